"""The TensorFlow peer users would pick today: KServe's Python model server with TensorFlow.

One `kserve.Model` per SavedModel: `load()` calls `tf.saved_model.load` on the TF Serving
folder's highest version, `predict()` runs its `serving_default` signature on the request's
`instances` (float32) and returns the signature's one output as `predictions`. Run with the
TensorFlow venv (.venv-tf, kserve from scripts/requirements-tf-bench.txt).

Usage: kserve_tf_peer.py --http_port PORT NAME=MODEL_DIR [NAME=MODEL_DIR ...]
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import kserve  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


def version_dir(model_dir):
    versions = [d for d in os.listdir(model_dir) if d.isdigit()]
    return os.path.join(model_dir, max(versions, key=int)) if versions else model_dir


class TensorflowModel(kserve.Model):
    def __init__(self, name, model_dir):
        super().__init__(name)
        self.model_dir = model_dir
        self.signature = None
        self.input = None
        self.load()

    def load(self):
        loaded = tf.saved_model.load(version_dir(self.model_dir))
        self.signature = loaded.signatures["serving_default"]
        (self.input,) = self.signature.structured_input_signature[1].keys()
        self._loaded = loaded  # the signature's variables live as long as the object
        self.ready = True
        return self.ready

    async def predict(self, payload, headers=None):
        x = tf.constant(np.asarray(payload["instances"], dtype=np.float32))
        (out,) = self.signature(**{self.input: x}).values()
        return {"predictions": out.numpy().tolist()}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(parents=[kserve.model_server.parser])
    parser.add_argument("models", nargs="+", help="NAME=MODEL_DIR")
    args, _ = parser.parse_known_args()
    models = [TensorflowModel(*spec.split("=", 1)) for spec in args.models]
    kserve.ModelServer(http_port=args.http_port, workers=1).start(models)
