"""TensorFlow's own in-process call, the compute floor of the tf section: the loaded
`serving_default` signature of each SavedModel called batch by batch from Python, no HTTP.

`tf_call.py NAME=MODEL_DIR ...` (run with .venv-tf by bench/tf.py) prints one JSON object per
(model, batch of 1 and 32): the median and quartiles of a call in microseconds, on float32 rows
in [0, 1), TensorFlow on its default threads (every core).
"""

import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from kserve_tf_peer import version_dir  # noqa: E402


def measure(name, model_dir):
    fn = tf.saved_model.load(version_dir(model_dir)).signatures["serving_default"]
    (arg, spec), = fn.structured_input_signature[1].items()
    row = [d or 1 for d in spec.shape[1:]]
    rng = np.random.default_rng(0)
    for batch in (1, 32):
        inputs = [tf.constant(rng.uniform(0, 1, [batch, *row]).astype("float32")) for _ in range(16)]
        calls = 5000 if batch == 1 else 500
        times = []
        for k in range(calls + calls // 10):
            x = inputs[k % len(inputs)]
            started = time.perf_counter()
            out = fn(**{arg: x})
            next(iter(out.values())).numpy()
            times.append((time.perf_counter() - started) * 1e6)
        times = sorted(times[calls // 10:])
        pick = lambda p: times[round((len(times) - 1) * p)]  # noqa: E731
        print(json.dumps({"deployment": name, "batch": batch, "median_us": pick(0.5),
                          "p25_us": pick(0.25), "p75_us": pick(0.75)}), flush=True)


if __name__ == "__main__":
    for spec in sys.argv[1:]:
        measure(*spec.split("=", 1))
