"""The peer users would otherwise pick: KServe's Python model server, serving a Hopsworks
predictor script the way Hopsworks does: the script's `Predict` class is created once
(its `__init__` loads the model from ARTIFACT_FILES_PATH) and its `predict(inputs)` gets
each request's `instances`, wrapped in a `kserve.Model`.

Usage: kserve_peer.py SCRIPT ARTIFACT_DIR --http_port PORT [--name NAME]
"""

import argparse
import importlib.util
import os

import kserve


def load_predict_class(script):
    spec = importlib.util.spec_from_file_location("hopsworks_predictor", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, "Predict", None) or getattr(module, "Predictor")


class HopsworksPredictor(kserve.Model):
    def __init__(self, name, predict_class):
        super().__init__(name)
        self.predict_class = predict_class
        self.predictor = None
        self.load()

    def load(self):
        self.predictor = self.predict_class()
        self.ready = True
        return self.ready

    def predict(self, payload, headers=None):
        result = self.predictor.predict(payload["instances"])
        return result if isinstance(result, dict) else {"predictions": result}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(parents=[kserve.model_server.parser])
    parser.add_argument("script")
    parser.add_argument("artifact_dir")
    parser.add_argument("--name", default="iris")
    args, _ = parser.parse_known_args()
    os.environ["ARTIFACT_FILES_PATH"] = os.path.abspath(args.artifact_dir)
    os.environ.setdefault("DEPLOYMENT_NAME", args.name)
    model = HopsworksPredictor(args.name, load_predict_class(os.path.abspath(args.script)))
    kserve.ModelServer(http_port=args.http_port, workers=1).start([model])
