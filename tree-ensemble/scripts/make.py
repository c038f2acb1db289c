"""Generate the tree-ensemble test fixtures (models, inputs, expected outputs).

Everything is made in code with fixed seeds; the output directory is generated, never
committed.  For every ONNX model the tree node(s) are located, their attributes dumped to
JSON, and onnxruntime is run on the full model with the tree node's input and outputs
exposed, so the Rust tests can compare the bare operator against onnxruntime without a
protobuf reader.  Native XGBoost (.json/.ubj) and LightGBM (.txt) files are written next to
the library's own predictions.

Layout of <out>/manifest.json: a list of cases, each with
  name, kind ("onnx" | "xgboost" | "lightgbm"), files and arrays.
Arrays are raw little-endian files described by {"file", "dtype", "shape"}.

Usage: python make.py [out_dir]
"""

import json
import os
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper
import onnxruntime as ort
from synthetic import random_models, regressor_to_v5

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "fixtures")
os.makedirs(OUT, exist_ok=True)
N_TEST = 1000
MANIFEST = []
TREE_OPS = {"TreeEnsembleClassifier", "TreeEnsembleRegressor", "TreeEnsemble"}


def save_array(name, arr):
    arr = np.ascontiguousarray(arr)
    if arr.dtype == np.float64:
        arr = arr.astype(np.float32)
    path = os.path.join(OUT, name)
    arr.tofile(path)
    return {"file": name, "dtype": str(arr.dtype), "shape": list(arr.shape)}


def attr_to_json(a):
    v = helper.get_attribute_value(a)
    if isinstance(v, onnx.TensorProto):
        arr = numpy_helper.to_array(v)
        vals = arr.reshape(-1).tolist()
        if arr.dtype.kind == "f":
            # JSON has no NaN; membership separators are the only expected NaNs.
            vals = [None if (isinstance(x, float) and x != x) else x for x in vals]
        return {"tensor": vals, "dtype": str(arr.dtype)}
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, list):
        return [x.decode() if isinstance(x, bytes) else x for x in v]
    return v


def json_safe(v):
    """JSON has no NaN or infinities (HistGradientBoosting thresholds can be +inf):
    NaN becomes null, infinities the strings "inf" / "-inf"."""
    if isinstance(v, float) and not np.isfinite(v):
        return None if v != v else ("inf" if v > 0 else "-inf")
    if isinstance(v, list):
        return [json_safe(x) for x in v]
    if isinstance(v, dict):
        return {k: json_safe(x) for k, x in v.items()}
    return v


def with_nans(x, rate, seed):
    rng = np.random.default_rng(seed)
    x = x.copy()
    x[rng.random(x.shape) < rate] = np.nan
    return x


def add_onnx_case(name, model, x_test, lib_outputs=None):
    """Expose the tree node's input/outputs, run ORT, dump attributes and arrays."""
    path = os.path.join(OUT, name + ".onnx")
    onnx.save(model, path)
    graph = model.graph
    tree_nodes = [n for n in graph.node if n.op_type in TREE_OPS]
    assert tree_nodes, name
    # IsolationForest has one tree node per tree: the first one stands for all.
    node = tree_nodes[0]
    ml_opset = max([o.version for o in model.opset_import if o.domain == "ai.onnx.ml"] or [1])
    if node.op_type == "TreeEnsemble":
        ml_opset = max(ml_opset, 5)
    exposed = onnx.ModelProto()
    exposed.CopyFrom(model)
    existing = {o.name for o in exposed.graph.output}
    for t in list(node.input) + list(node.output):
        if t not in existing:
            exposed.graph.output.append(helper.make_empty_tensor_value_info(t))
    # One thread: onnxruntime then sums trees in order, as the engine does, so float
    # results are comparable bit for bit rather than up to summation order.
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(exposed.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    in_name = sess.get_inputs()[0].name
    names = [o.name for o in sess.get_outputs()]
    res = dict(zip(names, sess.run(None, {in_name: x_test})))
    case = {
        "name": name,
        "kind": "onnx",
        "op_type": node.op_type,
        "ml_opset": ml_opset,
        "attributes": {a.name: attr_to_json(a) for a in node.attribute},
        "arrays": {"x": save_array(f"{name}.x.bin", res[node.input[0]].astype(np.float32))},
    }
    if node.op_type == "TreeEnsembleClassifier":
        labels = res[node.output[0]]
        if labels.dtype.kind in "OUS":
            case["label_strings"] = [str(s) for s in labels.tolist()]
        else:
            case["arrays"]["labels"] = save_array(f"{name}.labels.bin", labels.astype(np.int64))
        case["arrays"]["scores"] = save_array(f"{name}.scores.bin", res[node.output[1]])
    else:
        case["arrays"]["scores"] = save_array(f"{name}.scores.bin", res[node.output[0]])
    for k, v in (lib_outputs or {}).items():
        case["arrays"][k] = save_array(f"{name}.{k}.bin", v)
    MANIFEST.append(case)
    print(name, node.op_type, "ml opset", ml_opset, "nodes", len(case["attributes"].get("nodes_featureids", [])),
          flush=True)


def _patch_skl2onnx():
    """skl2onnx passes HistGradientBoosting's missing-go-left flags as numpy bools, which
    onnx rejects for an ints attribute; cast them before the node is made."""
    from skl2onnx.common import tree_ensemble as te

    if getattr(te, "_bool_patch", False):
        return
    orig = te.add_node

    def add_node(*args, **kw):
        if "nodes_missing_value_tracks_true" in kw:
            kw["nodes_missing_value_tracks_true"] = int(kw["nodes_missing_value_tracks_true"])
        return orig(*args, **kw)

    te.add_node = add_node
    te._bool_patch = True


def skl(model, x_train, ml_opset=3, options=None):
    from skl2onnx import to_onnx

    _patch_skl2onnx()

    return to_onnx(
        model,
        x_train[:1].astype(np.float32),
        target_opset={"": 17, "ai.onnx.ml": ml_opset},
        options=options,
    )


def main():
    from sklearn.datasets import make_classification, make_regression
    from sklearn.ensemble import (
        ExtraTreesClassifier,
        GradientBoostingRegressor,
        HistGradientBoostingClassifier,
        IsolationForest,
        RandomForestClassifier,
        RandomForestRegressor,
    )

    zipmap = {"zipmap": False}
    # Iris-sized: 4 features, 3 classes.
    xi, yi = make_classification(n_samples=150 + N_TEST, n_features=4, n_informative=3, n_redundant=1,
                                 n_classes=3, n_clusters_per_class=1, random_state=1)
    xi = xi.astype(np.float32)
    xi_tr, yi_tr, xi_te = xi[:150], yi[:150], xi[150:]
    rf = RandomForestClassifier(n_estimators=100, random_state=0).fit(xi_tr, yi_tr)
    add_onnx_case("rf100_iris", skl(rf, xi_tr, options={type(rf): zipmap}), xi_te,
                  {"lib_proba": rf.predict_proba(xi_te)})

    # Wider synthetic data: 30 features, 5 classes, string labels.
    xw, yw = make_classification(n_samples=3000 + N_TEST, n_features=30, n_informative=12, n_classes=5,
                                 random_state=2)
    xw = xw.astype(np.float32)
    names = np.array(["alpha", "beta", "gamma", "delta", "epsilon"])
    yws = names[yw]
    et = ExtraTreesClassifier(n_estimators=50, max_depth=14, random_state=0).fit(xw[:3000], yws[:3000])
    add_onnx_case("et50_wide_str", skl(et, xw[:3000], options={type(et): zipmap}), xw[3000:],
                  {"lib_proba": et.predict_proba(xw[3000:])})
    rfw = RandomForestClassifier(n_estimators=100, max_depth=12, random_state=0).fit(xw[:3000], yw[:3000])
    add_onnx_case("rf100_wide", skl(rfw, xw[:3000], options={type(rfw): zipmap}), xw[3000:],
                  {"lib_proba": rfw.predict_proba(xw[3000:])})
    # Binary: exercises the single-class-id path of the classifier.
    yb = (yw >= 2).astype(np.int64)
    rfb = RandomForestClassifier(n_estimators=30, max_depth=10, random_state=0).fit(xw[:3000], yb[:3000])
    add_onnx_case("rf30_binary", skl(rfb, xw[:3000], options={type(rfb): zipmap}), xw[3000:],
                  {"lib_proba": rfb.predict_proba(xw[3000:])})

    # Regressors.
    xr, yr = make_regression(n_samples=2000 + N_TEST, n_features=10, n_targets=1, noise=0.5, random_state=3)
    xr = xr.astype(np.float32)
    gbr = GradientBoostingRegressor(n_estimators=100, max_depth=3, random_state=0).fit(xr[:2000], yr[:2000])
    add_onnx_case("gbr100", skl(gbr, xr[:2000]), xr[2000:], {"lib_pred": gbr.predict(xr[2000:])})
    xr2, yr2 = make_regression(n_samples=2000 + N_TEST, n_features=8, n_targets=3, noise=0.5, random_state=4)
    xr2 = xr2.astype(np.float32)
    rfr = RandomForestRegressor(n_estimators=20, max_depth=8, random_state=0).fit(xr2[:2000], yr2[:2000])
    add_onnx_case("rfr20_multi", skl(rfr, xr2[:2000]), xr2[2000:], {"lib_pred": rfr.predict(xr2[2000:])})

    # HistGradientBoosting with NaNs (missing-value tracks).
    xh = with_nans(xw, 0.1, 5)
    hgb = HistGradientBoostingClassifier(max_iter=60, random_state=0).fit(xh[:3000], yw[:3000])
    add_onnx_case("hgb60_nan", skl(hgb, xh[:3000], options={type(hgb): zipmap}), xh[3000:],
                  {"lib_proba": hgb.predict_proba(xh[3000:])})

    iso = IsolationForest(n_estimators=100, random_state=0).fit(xr[:2000])
    add_onnx_case("iforest100", skl(iso, xr[:2000]), xr[2000:])

    add_onnx_case("gbr100_v5", regressor_to_v5(skl(gbr, xr[:2000])), xr[2000:], {"lib_pred": gbr.predict(xr[2000:])})
    for name, model, x in random_models(with_nans):
        try_case(name, model, x)
    xgboost_cases(xw, yw, xr, yr)
    lightgbm_cases(xw, yw)

    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(json_safe(MANIFEST), f, allow_nan=False)
    print("wrote", len(MANIFEST), "cases to", OUT)


def try_case(name, model, x):
    try:
        add_onnx_case(name, model, x)
    except Exception as e:
        print("onnxruntime refused", name, ":", str(e)[:200])


def onnxml(model, n_features, kind):
    from onnxmltools import convert_lightgbm, convert_xgboost
    from onnxmltools.convert.common.data_types import FloatTensorType

    types = [("input", FloatTensorType([None, n_features]))]
    conv = convert_xgboost if kind == "xgboost" else convert_lightgbm
    kw = {"zipmap": False} if kind == "lightgbm" else {}
    return conv(model, initial_types=types, target_opset=15, **kw)


def add_native_case(name, kind, files, x, arrays, extra=None):
    case = {"name": name, "kind": kind, "files": files,
            "arrays": {"x": save_array(f"{name}.native.x.bin", x)}}
    for k, v in arrays.items():
        case["arrays"][k] = save_array(f"{name}.{k}.bin", v)
    case.update(extra or {})
    MANIFEST.append(case)
    print(name, kind, files)


def xgboost_cases(xw, yw, xr, yr):
    import xgboost as xgb

    xn = with_nans(xw, 0.1, 6)
    tr, te = xn[:3000], xn[3000:]
    common = dict(n_estimators=500, max_depth=6, learning_rate=0.1, random_state=0, tree_method="hist")
    for name, model, y in [
        ("xgb500_binary", xgb.XGBClassifier(**common), (yw >= 2).astype(int)),
        ("xgb500_multi", xgb.XGBClassifier(**common), yw),
        ("xgb500_reg", xgb.XGBRegressor(**common), None),
    ]:
        if y is None:
            xtr, xte = with_nans(xr, 0.1, 7)[:2000], with_nans(xr, 0.1, 7)[2000:]
            model.fit(xtr, yr[:2000])
            lib = {"lib_pred": model.predict(xte), "lib_margin": model.predict(xte, output_margin=True)}
        else:
            xtr, xte = tr, te
            model.fit(xtr, y[:3000])
            lib = {"lib_proba": model.predict_proba(xte), "lib_margin": model.predict(xte, output_margin=True)}
        booster = model.get_booster()
        booster.save_model(os.path.join(OUT, name + ".json"))
        booster.save_model(os.path.join(OUT, name + ".ubj"))
        add_native_case(name, "xgboost", [name + ".json", name + ".ubj"], xte, lib)
        try:
            add_onnx_case(name + "_onnx", onnxml(model, xtr.shape[1], "xgboost"), xte, lib)
        except Exception as e:  # converter/library version skew: keep native fixtures
            print("onnxmltools xgboost conversion failed for", name, ":", repr(e)[:300])


def lightgbm_cases(xw, yw):
    import lightgbm as lgb

    xn = with_nans(xw, 0.1, 8)
    tr, te = xn[:3000], xn[3000:]
    model = lgb.LGBMClassifier(n_estimators=100, num_leaves=31, random_state=0, verbose=-1).fit(tr, yw[:3000])
    name = "lgbm100_multi"
    model.booster_.save_model(os.path.join(OUT, name + ".txt"))
    lib = {"lib_proba": model.predict_proba(te), "lib_margin": model.predict(te, raw_score=True)}
    add_native_case(name, "lightgbm", [name + ".txt"], te, lib)
    add_onnx_case(name + "_onnx", onnxml(model, tr.shape[1], "lightgbm"), te, lib)

    yb = (yw >= 2).astype(int)
    model = lgb.LGBMClassifier(n_estimators=200, num_leaves=63, random_state=0, verbose=-1).fit(tr, yb[:3000])
    name = "lgbm200_binary"
    model.booster_.save_model(os.path.join(OUT, name + ".txt"))
    lib = {"lib_proba": model.predict_proba(te), "lib_margin": model.predict(te, raw_score=True)}
    add_native_case(name, "lightgbm", [name + ".txt"], te, lib)
    add_onnx_case(name + "_onnx", onnxml(model, tr.shape[1], "lightgbm"), te, lib)


if __name__ == "__main__":
    main()
