"""Writing fixture cases for make.py: raw arrays, tree-node attributes as JSON, and
onnxruntime's answers, both for the bare tree node(s) and for the full exported model.
The manifest layout is documented at the top of make.py."""

import json
import os

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper, numpy_helper

TREE_OPS = {"TreeEnsembleClassifier", "TreeEnsembleRegressor", "TreeEnsemble"}


class Fixtures:
    def __init__(self, out):
        self.out = out
        self.cases = []
        os.makedirs(out, exist_ok=True)

    def save_array(self, name, arr, keep_dtype=False):
        """Raw little-endian file; float64 becomes float32 (what the engine computes in)
        unless `keep_dtype`, used for the full model's outputs, which are kept as produced."""
        arr = np.ascontiguousarray(arr)
        if arr.dtype == np.float64 and not keep_dtype:
            arr = arr.astype(np.float32)
        arr.astype(arr.dtype.newbyteorder("<"), copy=False).tofile(os.path.join(self.out, name))
        return {"file": name, "dtype": str(arr.dtype), "shape": list(arr.shape)}

    def output_entry(self, case, name, value):
        if isinstance(value, np.ndarray) and value.dtype.kind in "OUS":
            return {"name": name, "dtype": "string", "shape": list(value.shape),
                    "strings": [str(s) for s in value.reshape(-1).tolist()]}
        if not isinstance(value, np.ndarray):
            raise TypeError(f"{case}: output {name} is a {type(value).__name__}, not a tensor (ZipMap left on?)")
        return {"name": name, **self.save_array(f"{case}.out.{name.replace('/', '_')}.bin", value, keep_dtype=True)}

    def add_onnx(self, name, model, x, lib=None, exporter="synthetic", zipmap=False):
        """One case per tree node of `model` (IsolationForest has one per tree): onnxruntime
        runs the model once with every tree node's input and outputs exposed."""
        model_file = name + ".onnx"
        onnx.save(model, os.path.join(self.out, model_file))
        nodes = [n for n in model.graph.node if n.op_type in TREE_OPS]
        assert nodes, name
        exposed = onnx.ModelProto()
        exposed.CopyFrom(model)
        graph_outputs = [o.name for o in model.graph.output]
        seen = set(graph_outputs)
        for node in nodes:
            for t in list(node.input) + list(node.output):
                if t not in seen:
                    seen.add(t)
                    exposed.graph.output.append(helper.make_empty_tensor_value_info(t))
        # One thread: onnxruntime then sums trees in order, as the engine does, so float
        # results are comparable up to the last bits rather than up to summation order.
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.log_severity_level = 3
        sess = ort.InferenceSession(exposed.SerializeToString(), opts, providers=["CPUExecutionProvider"])
        in_name = sess.get_inputs()[0].name
        res = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, {in_name: x})))
        ml_opset = max([o.version for o in model.opset_import if o.domain == "ai.onnx.ml"] or [1])
        full = res
        spec = spec_semantics(model)
        if spec is not None:
            # The whole model's reference is the ONNX specification's meaning, as onnxruntime
            # computes it once the two swapped codes are exchanged back (the bare operator's
            # "scores" stay onnxruntime's own: the crate's tests swap to compare).
            spec_sess = ort.InferenceSession(spec.SerializeToString(), opts, providers=["CPUExecutionProvider"])
            full = dict(zip(graph_outputs, spec_sess.run(graph_outputs, {in_name: x})))
        for i, node in enumerate(nodes):
            cname = name if i == 0 else f"{name}.tree{i}"
            case = {
                "name": cname,
                "kind": "onnx",
                "op_type": node.op_type,
                "ml_opset": max(ml_opset, 5) if node.op_type == "TreeEnsemble" else ml_opset,
                "attributes": {a.name: attr_to_json(a) for a in node.attribute},
                "arrays": {"x": self.save_array(f"{cname}.x.bin", res[node.input[0]].astype(np.float32))},
            }
            scores = res[node.output[-1]]
            if node.op_type == "TreeEnsembleClassifier":
                labels = res[node.output[0]]
                if labels.dtype.kind in "OUS":
                    case["label_strings"] = [str(s) for s in labels.tolist()]
                else:
                    case["arrays"]["labels"] = self.save_array(f"{cname}.labels.bin", labels.astype(np.int64))
            case["arrays"]["scores"] = self.save_array(f"{cname}.scores.bin", scores)
            if i == 0:
                for k, v in (lib or {}).items():
                    case["arrays"][k] = self.save_array(f"{cname}.{k}.bin", v)
                case["full_model"] = {
                    "file": model_file,
                    "exporter": exporter,
                    "zipmap": zipmap,
                    "input_name": in_name,
                    "input": self.save_array(f"{cname}.input.bin", x, keep_dtype=True),
                    "outputs": [self.output_entry(cname, o, full[o]) for o in graph_outputs],
                }
            self.cases.append(case)
        return len(nodes)

    def add_native(self, name, kind, files, x, arrays):
        case = {"name": name, "kind": kind, "files": files,
                "arrays": {"x": self.save_array(f"{name}.native.x.bin", x)}}
        for k, v in arrays.items():
            case["arrays"][k] = self.save_array(f"{name}.{k}.bin", v)
        self.cases.append(case)

    def write_manifest(self):
        with open(os.path.join(self.out, "manifest.json"), "w") as f:
            # dumps, not dump: dump streams through the pure-Python encoder, many times slower.
            f.write(json.dumps(self.cases, allow_nan=False))


def spec_semantics(model):
    """onnxruntime reads the opset-5 TreeEnsemble's `post_transform` 1 as LOGISTIC and 2 as
    SOFTMAX, the reverse of the ONNX specification (1 SOFTMAX, 2 LOGISTIC), which the engine
    follows. A copy of `model` with those two codes exchanged, so that onnxruntime computes
    what the specification says; None when no node is affected."""
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    changed = False
    for node in copy.graph.node:
        if node.op_type != "TreeEnsemble":
            continue
        for a in node.attribute:
            if a.name == "post_transform" and a.i in (1, 2):
                a.i = 3 - a.i
                changed = True
    return copy if changed else None


def attr_to_json(a):
    v = helper.get_attribute_value(a)
    if isinstance(v, onnx.TensorProto):
        arr = numpy_helper.to_array(v)
        return {"tensor": json_floats(arr.reshape(-1)), "dtype": str(arr.dtype)}
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, list) and v and isinstance(v[0], float):
        return json_floats(np.array(v, dtype=np.float32))
    if isinstance(v, list):
        return [x.decode() if isinstance(x, bytes) else x for x in v]
    if isinstance(v, float):
        return json_floats(np.array([v], dtype=np.float32))[0]
    return v


def json_floats(arr):
    """JSON has no NaN or infinities (membership separators are NaN, HistGradientBoosting
    thresholds can be +inf): NaN becomes null, infinities the strings "inf" / "-inf".
    Values go through float32, what the attribute holds, so their JSON text reads back the same."""
    vals = arr.tolist()
    if arr.dtype.kind != "f" or np.isfinite(arr).all():
        return vals
    return [x if np.isfinite(x) else (None if x != x else ("inf" if x > 0 else "-inf")) for x in vals]


def with_nans(x, rate, seed):
    rng = np.random.default_rng(seed)
    x = x.copy()
    x[rng.random(x.shape) < rate] = np.nan
    return x
