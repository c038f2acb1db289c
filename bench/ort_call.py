"""onnxruntime's per-call compute on the trees section's ONNX models (bench/trees.py's
baseline): `InferenceSession.run` timed call by call on held-out rows, batches of 1 and 64,
median, minus the median of the same calls, made in turn with them, on a one-node Identity
graph with the same input (what a `run` costs in Python and in onnxruntime's session
whatever the graph computes).
Sessions with 1 intra-op thread and with onnxruntime's default (one per core).

Usage: python bench/ort_call.py MODELS_DIR  (prints one JSON object per line)
"""

import json
import os
import sys
import time

import numpy as np


def identity(input_name, width):
    from onnx import TensorProto, helper

    node = helper.make_node("Identity", [input_name], ["Y"])
    graph = helper.make_graph([node], "identity",
                              [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, [None, width])],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, width])])
    # IR version 8 (what the exporters write): onnx's default is newer than onnxruntime reads.
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8).SerializeToString()


def medians_us(sess, ident, name, x, batch, calls):
    """Median microseconds of one `run` of the model and of the Identity graph, call for call
    in turn (so this machine's drift falls on both), over `calls` calls each after a tenth as
    many unmeasured; windows of rows move along `x` so no call sees the previous one's rows."""
    windows = [x[r:r + batch] for r in range(0, x.shape[0] - batch + 1, max(1, batch // 2))][:64]
    model_ns, ident_ns = [], []
    for k in range(calls + calls // 10):
        feed = {name: windows[k % len(windows)]}
        t = time.perf_counter_ns()
        ident.run(None, feed)
        t1 = time.perf_counter_ns()
        sess.run(None, feed)
        t2 = time.perf_counter_ns()
        ident_ns.append(t1 - t)
        model_ns.append(t2 - t1)
    return [float(np.median(v[calls // 10:])) / 1000 for v in (model_ns, ident_ns)]


def calls_for(batch):
    return 20000 if batch == 1 else 2000


def measure(models_dir, batches=(1, 64)):
    import onnxruntime as ort

    with open(os.path.join(models_dir, "manifest.json")) as f:
        models = json.load(f)["models"]
    rows = []
    for threads in (1, 0):
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.log_severity_level = 3  # errors only: nothing written while timing
        for m in models:
            folder = os.path.join(models_dir, m["dir"])
            x = np.fromfile(os.path.join(folder, "x.f32"), dtype="<f4").reshape(-1, m["width"])
            sess = ort.InferenceSession(os.path.join(folder, "model.onnx"), options,
                                        providers=["CPUExecutionProvider"])
            name = sess.get_inputs()[0].name
            ident = ort.InferenceSession(identity(name, m["width"]), options, providers=["CPUExecutionProvider"])
            for batch in batches:
                run, overhead = medians_us(sess, ident, name, x, batch, calls_for(batch))
                rows.append({"model": m["name"], "batch": batch, "threads": threads or "default",
                             "run_us": run, "identity_us": overhead, "compute_us": run - overhead})
    return rows


if __name__ == "__main__":
    for row in measure(sys.argv[1]):
        print(json.dumps(row), flush=True)
