"""Generate the tree-ensemble test fixtures (models, inputs, expected outputs).

Run by scripts/setup.sh (output in <workspace>/target/tree-fixtures, generated, never
committed); the Rust tests in tree-ensemble/tests read it.  Everything is made in code with
fixed seeds: scikit-learn models exported by skl2onnx, XGBoost and LightGBM boosters saved
natively and converted by onnxmltools, and synthetic ensembles (synthetic.py).  Inputs carry
NaNs wherever the model handles missing values (all but GradientBoostingRegressor).

Layout of <out>/manifest.json: a list of cases.  An array is a raw little-endian file
described by {"file", "dtype", "shape"} (dtype a numpy name: float32, float64, int64).
Every case has "name", "kind" ("onnx" | "xgboost" | "lightgbm") and "arrays" (name -> array):
  "x"           the input rows, float32, [rows, features]
  "lib_proba"   the library's predict_proba (when it has one)
  "lib_pred"    the library's predict (regressors)
  "lib_margin"  XGBoost predict(output_margin=True) / LightGBM predict(raw_score=True)
kind "onnx": the bare tree operator, as onnxruntime computes it inside the model.
  "op_type"     TreeEnsembleClassifier | TreeEnsembleRegressor | TreeEnsemble
  "ml_opset"    the ai.onnx.ml opset the model imports (5 for TreeEnsemble)
  "attributes"  the node's attributes: ints/floats/strings lists as JSON lists, tensors as
                {"tensor": [...], "dtype"}; NaN is null, infinities "inf" / "-inf"
  arrays "x" (the node's input), "scores" (its score output), "labels" (int64, classifiers
  with integer labels), or "label_strings" (a JSON list, classifiers with string labels)
  "full_model"  on the first case of each model only (a model with several tree nodes, e.g.
                IsolationForest, gives cases <name>, <name>.tree1, ...):
    "file"        the model as exported (<name>.onnx), ZipMap disabled where the exporter
                  allows it
    "exporter"    "skl2onnx" | "skl2onnx + missing directions" (forests: skl2onnx drops
                  scikit-learn's per-node NaN direction, make.py writes it into
                  nodes_missing_value_tracks_true) | "onnxmltools" | "synthetic" |
                  "rewrite of <case>" (gbr100_v5: the regressor as opset-5 TreeEnsemble)
    "zipmap"      whether a ZipMap is left in the graph (false throughout)
    "input_name"  the graph's input
    "input"       the array fed to it
    "outputs"     onnxruntime's answer for every graph output, in graph order (for an opset-5
                  TreeEnsemble with post_transform 1 or 2, onnxruntime's answer once the two
                  codes it reads swapped are exchanged back: the specification's meaning): an array
                  entry plus "name"; string tensors as {"name", "dtype": "string",
                  "shape", "strings": [...]}
kind "xgboost" | "lightgbm": "files", the booster saved natively (.json and .ubj, or .txt).

Usage: python make.py [out_dir]
"""

import os
import sys
import time

# One thread everywhere: OpenMP pools (HistGradientBoosting, XGBoost, LightGBM) spin badly on
# a loaded two-core machine, and one thread keeps training deterministic.
os.environ["OMP_NUM_THREADS"] = "1"

import numpy as np  # noqa: E402
from onnx import helper  # noqa: E402

from fixture_io import TREE_OPS, Fixtures, with_nans  # noqa: E402
from synthetic import random_models, regressor_to_v5  # noqa: E402

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
N_TEST = 1000
START = time.monotonic()


def log(*msg):
    print(f"[{time.monotonic() - START:5.1f}s, cpu {time.process_time():5.1f}s]", *msg, flush=True)


def sklearn_missing(model, trees_per_node):
    """skl2onnx 1.20 writes nodes_missing_value_tracks_true only for HistGradientBoosting;
    forests fitted on data with NaNs keep a per-node missing_go_to_left that it drops, so the
    export would send NaN right where scikit-learn sends it left.  Copy the directions in
    (true branch = left for the BRANCH_LEQ nodes skl2onnx writes)."""
    nodes = [n for n in model.graph.node if n.op_type in TREE_OPS]
    assert len(nodes) == len(trees_per_node)
    if len(nodes) > 1:
        # One node per tree (IsolationForest), in graph order rather than estimator order:
        # pair them by the sequence of split features.
        key = {tuple(t[0].feature): t for t in trees_per_node}
        trees_per_node = [key[tuple(f if m != b"LEAF" else -2 for f, m in zip(
            helper.get_attribute_value([x for x in n.attribute if x.name == "nodes_featureids"][0]),
            helper.get_attribute_value([x for x in n.attribute if x.name == "nodes_modes"][0])))]
            for n in nodes]
    for node, trees in zip(nodes, trees_per_node):
        a = {x.name: helper.get_attribute_value(x) for x in node.attribute}
        assert all(m in (b"BRANCH_LEQ", b"LEAF") for m in a["nodes_modes"])
        tracks = [int(m != b"LEAF" and trees[t].missing_go_to_left[n])
                  for t, n, m in zip(a["nodes_treeids"], a["nodes_nodeids"], a["nodes_modes"])]
        kept = [x for x in node.attribute if x.name != "nodes_missing_value_tracks_true"]
        del node.attribute[:]
        node.attribute.extend(kept + [helper.make_attribute("nodes_missing_value_tracks_true", tracks)])
    return model


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


def skl(model, x_train, zipmap=True):
    from skl2onnx import to_onnx

    _patch_skl2onnx()
    options = {type(model): {"zipmap": False}} if zipmap else None
    return to_onnx(model, x_train[:1].astype(np.float32), target_opset={"": 17, "ai.onnx.ml": 3},
                   options=options)


def sklearn_cases(fx):
    from sklearn.datasets import make_classification, make_regression
    from sklearn.ensemble import (ExtraTreesClassifier, GradientBoostingRegressor, HistGradientBoostingClassifier,
                                  IsolationForest, RandomForestClassifier, RandomForestRegressor)

    def add(name, model, x_tr, x_te, lib, zipmap=True):
        onnx_model, exporter = skl(model, x_tr, zipmap), "skl2onnx"
        if isinstance(model, (RandomForestClassifier, ExtraTreesClassifier, RandomForestRegressor, IsolationForest)):
            trees = [e.tree_ for e in np.ravel(model.estimators_)]
            per_node = [trees] if not isinstance(model, IsolationForest) else [[t] for t in trees]
            onnx_model = sklearn_missing(onnx_model, per_node)
            exporter = "skl2onnx + missing directions"
        n = fx.add_onnx(name, onnx_model, x_te, lib, exporter=exporter)
        log(name, type(model).__name__, "tree nodes", n)

    # Iris-sized: 4 features, 3 classes.
    xi, yi = make_classification(n_samples=150 + N_TEST, n_features=4, n_informative=3, n_redundant=1,
                                 n_classes=3, n_clusters_per_class=1, random_state=1)
    xi = with_nans(xi.astype(np.float32), 0.05, 1)
    xi_tr, yi_tr, xi_te = xi[:150], yi[:150], xi[150:]
    rf = RandomForestClassifier(n_estimators=100, random_state=0).fit(xi_tr, yi_tr)
    add("rf100_iris", rf, xi_tr, xi_te, {"lib_proba": rf.predict_proba(xi_te)})

    # Wider data: 30 features, 5 classes, 10% NaN.
    xw, yw = make_classification(n_samples=3000 + N_TEST, n_features=30, n_informative=12, n_classes=5,
                                 random_state=2)
    xw = xw.astype(np.float32)
    xn = with_nans(xw, 0.1, 5)
    tr, te = xn[:3000], xn[3000:]
    names = np.array(["alpha", "beta", "gamma", "delta", "epsilon"])
    et = ExtraTreesClassifier(n_estimators=50, max_depth=14, random_state=0).fit(tr, names[yw[:3000]])
    add("et50_wide_str", et, tr, te, {"lib_proba": et.predict_proba(te)})
    rfw = RandomForestClassifier(n_estimators=100, max_depth=12, random_state=0).fit(tr, yw[:3000])
    add("rf100_wide", rfw, tr, te, {"lib_proba": rfw.predict_proba(te)})
    # Binary: the single-class-id path of the classifier.
    yb = (yw >= 2).astype(np.int64)
    rfb = RandomForestClassifier(n_estimators=30, max_depth=10, random_state=0).fit(tr, yb[:3000])
    add("rf30_binary", rfb, tr, te, {"lib_proba": rfb.predict_proba(te)})
    hgb = HistGradientBoostingClassifier(max_iter=60, random_state=0).fit(tr, yw[:3000])
    add("hgb60_nan", hgb, tr, te, {"lib_proba": hgb.predict_proba(te)})

    # Regressors; GradientBoostingRegressor refuses NaN, so its rows have none.
    xr, yr = make_regression(n_samples=2000 + N_TEST, n_features=10, n_targets=1, noise=0.5, random_state=3)
    xr = xr.astype(np.float32)
    gbr = GradientBoostingRegressor(n_estimators=100, max_depth=3, random_state=0).fit(xr[:2000], yr[:2000])
    add("gbr100", gbr, xr[:2000], xr[2000:], {"lib_pred": gbr.predict(xr[2000:])}, zipmap=False)
    v5 = regressor_to_v5(skl(gbr, xr[:2000], zipmap=False))
    fx.add_onnx("gbr100_v5", v5, xr[2000:], {"lib_pred": gbr.predict(xr[2000:])}, exporter="rewrite of gbr100")
    xr2, yr2 = make_regression(n_samples=2000 + N_TEST, n_features=8, n_targets=3, noise=0.5, random_state=4)
    xr2 = with_nans(xr2.astype(np.float32), 0.1, 9)
    rfr = RandomForestRegressor(n_estimators=20, max_depth=8, random_state=0).fit(xr2[:2000], yr2[:2000])
    add("rfr20_multi", rfr, xr2[:2000], xr2[2000:], {"lib_pred": rfr.predict(xr2[2000:])}, zipmap=False)
    xri = with_nans(xr, 0.1, 10)
    iso = IsolationForest(n_estimators=40, random_state=0).fit(xri[:2000])
    add("iforest40", iso, xri[:2000], xri[2000:], {}, zipmap=False)
    return xw, yw, xr, yr


def onnxml(model, n_features, kind):
    from onnxmltools import convert_lightgbm, convert_xgboost
    from onnxmltools.convert.common.data_types import FloatTensorType

    types = [("input", FloatTensorType([None, n_features]))]
    if kind == "xgboost":  # its converter adds no ZipMap
        return convert_xgboost(model, initial_types=types, target_opset=15)
    return convert_lightgbm(model, initial_types=types, target_opset=15, zipmap=False)


def xgboost_cases(fx, xw, yw, xr, yr):
    import xgboost as xgb

    xn = with_nans(xw, 0.1, 6)
    xrn = with_nans(xr, 0.1, 7)
    # 64 histogram bins rather than 256 train several times faster; the trees keep their size.
    common = dict(n_estimators=500, max_depth=6, learning_rate=0.1, random_state=0, tree_method="hist", max_bin=64,
                  n_jobs=1)
    for name, model, x, y, n_train in [
        ("xgb500_binary", xgb.XGBClassifier(**common), xn, (yw >= 2).astype(int), 3000),
        ("xgb500_multi", xgb.XGBClassifier(**common), xn, yw, 3000),
        ("xgb500_reg", xgb.XGBRegressor(**common), xrn, yr, 2000),
    ]:
        xtr, xte = x[:n_train], x[n_train:]
        model.fit(xtr, y[:n_train])
        log(name, "trained")
        out = model.predict_proba(xte) if hasattr(model, "predict_proba") else model.predict(xte)
        lib = {"lib_proba" if hasattr(model, "predict_proba") else "lib_pred": out,
               "lib_margin": model.predict(xte, output_margin=True)}
        booster = model.get_booster()
        booster.save_model(os.path.join(fx.out, name + ".json"))
        booster.save_model(os.path.join(fx.out, name + ".ubj"))
        fx.add_native(name, "xgboost", [name + ".json", name + ".ubj"], xte, lib)
        fx.add_onnx(name + "_onnx", onnxml(model, xtr.shape[1], "xgboost"), xte, lib, exporter="onnxmltools")
        log(name, "native + onnx")


def lightgbm_cases(fx, xw, yw):
    import lightgbm as lgb

    xn = with_nans(xw, 0.1, 8)
    tr, te = xn[:3000], xn[3000:]
    for name, y, params in [("lgbm100_multi", yw, dict(n_estimators=100, num_leaves=31)),
                            ("lgbm200_binary", (yw >= 2).astype(int), dict(n_estimators=200, num_leaves=63))]:
        model = lgb.LGBMClassifier(random_state=0, verbose=-1, n_jobs=1, **params).fit(tr, y[:3000])
        log(name, "trained")
        model.booster_.save_model(os.path.join(fx.out, name + ".txt"))
        lib = {"lib_proba": model.predict_proba(te), "lib_margin": model.predict(te, raw_score=True)}
        fx.add_native(name, "lightgbm", [name + ".txt"], te, lib)
        fx.add_onnx(name + "_onnx", onnxml(model, tr.shape[1], "lightgbm"), te, lib, exporter="onnxmltools")
        log(name, "native + onnx")


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target", "tree-fixtures")
    fx = Fixtures(out)
    xw, yw, xr, yr = sklearn_cases(fx)
    xgboost_cases(fx, xw, yw, xr, yr)
    lightgbm_cases(fx, xw, yw)
    n = 0
    for name, model, x in random_models(with_nans, N_TEST):
        n += fx.add_onnx(name, model, x)
    log("synthetic models", n)
    fx.write_manifest()
    log("wrote", len(fx.cases), "cases to", out)


if __name__ == "__main__":
    main()
