"""Time onnxruntime InferenceSession.run on the benchmark models' tree node alone, for
batches of 1 and 64 rows from the fixtures, and subtract the call overhead measured on a
one-node Identity graph with the same input. Prints one JSON line per (model, batch,
threads) with medians in microseconds.

Usage: python bench_ort.py [fixtures_dir]
"""

import json
import os
import sys
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper

DIR = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..", "target", "tree-fixtures")
MODELS = ["rf100_iris", "xgb500_binary_onnx", "lgbm100_multi_onnx", "rf100_wide"]
TREE_OPS = {"TreeEnsembleClassifier", "TreeEnsembleRegressor", "TreeEnsemble"}


def tree_only(path):
    m = onnx.load(path)
    node = [n for n in m.graph.node if n.op_type in TREE_OPS][0]
    new = helper.make_node(node.op_type, ["X"], [f"out{i}" for i in range(len(node.output))], domain=node.domain)
    new.attribute.extend(node.attribute)
    outs = [helper.make_empty_tensor_value_info(o) for o in new.output]
    g = helper.make_graph([new], "t", [helper.make_tensor_value_info("X", onnx.TensorProto.FLOAT, [None, None])], outs)
    return helper.make_model(g, opset_imports=list(m.opset_import))


def identity():
    n = helper.make_node("Identity", ["X"], ["Y"])
    g = helper.make_graph([n], "i", [helper.make_tensor_value_info("X", onnx.TensorProto.FLOAT, [None, None])],
                          [helper.make_tensor_value_info("Y", onnx.TensorProto.FLOAT, [None, None])])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def median_us(sess, x, batch, calls):
    rows = x.shape[0]
    times = []
    for k in range(calls + calls // 10):
        r0 = (k * batch) % (rows - batch + 1)
        inp = {"X": x[r0:r0 + batch]}
        t = time.perf_counter_ns()
        sess.run(None, inp)
        dt = time.perf_counter_ns() - t
        if k >= calls // 10:
            times.append(dt / 1000.0)
    return float(np.median(times))


def main():
    manifest = {c["name"]: c for c in json.load(open(os.path.join(DIR, "manifest.json")))}
    for threads in (1, 0):
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        ident = ort.InferenceSession(identity().SerializeToString(), opts, providers=["CPUExecutionProvider"])
        for name in MODELS:
            case = manifest[name]
            a = case["arrays"]["x"]
            x = np.fromfile(os.path.join(DIR, a["file"]), dtype=np.float32).reshape(a["shape"])
            sess = ort.InferenceSession(tree_only(os.path.join(DIR, name + ".onnx")).SerializeToString(), opts,
                                        providers=["CPUExecutionProvider"])
            for batch in (1, 64):
                calls = 20000 if batch == 1 else 2000
                overhead = median_us(ident, x, batch, calls)
                total = median_us(sess, x, batch, calls)
                print(json.dumps({"model": name, "batch": batch, "threads": threads or "default",
                                  "run_us": round(total, 3), "identity_us": round(overhead, 3),
                                  "compute_us": round(total - overhead, 3)}), flush=True)


if __name__ == "__main__":
    main()
