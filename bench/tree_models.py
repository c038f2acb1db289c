"""Makes the trees section's models (run by scripts/bench.sh into target/bench-models/, again
only when this script or the pinned packages of scripts/requirements-*.txt change):

- rf100: scikit-learn's RandomForestClassifier(n_estimators=100) on iris, exported by
  skl2onnx (zipmap off) as `model.onnx` with a `deployment.json` to serve it natively;
  rf100-sklearn holds the same forest as `model.joblib`, the artifact the KServe peer's
  Hopsworks script (examples/python-iris/predictor_sklearn.py) loads;
- xgb500: XGBoost, 500 trees of depth 6, binary, `model.json` and onnxmltools' `model.onnx`;
- lgbm: LightGBM, 5 classes, 100 rounds of 31 leaves, `model.txt` and onnxmltools' `model.onnx`.

Each model folder gets `x.f32`: held-out rows (little-endian float32, row-major) that the
per-call timings feed in; `manifest.json` lists the folders, their files and row width.
Every ONNX export is checked against its library's probabilities with onnxruntime before it
is written, so the bench never times a graph that answers differently.

Usage: python bench/tree_models.py OUT_DIR
"""

import json
import os
import sys

import numpy as np

SEED = 0


def write_rows(folder, x):
    np.ascontiguousarray(x, dtype="<f4").tofile(os.path.join(folder, "x.f32"))


def check_onnx(onnx_model, x, expected_proba, name):
    """The export must give the library's probabilities (onnxruntime, the reference)."""
    import onnxruntime as ort

    sess = ort.InferenceSession(onnx_model.SerializeToString(), providers=["CPUExecutionProvider"])
    outputs = sess.run(None, {sess.get_inputs()[0].name: x})
    proba = next(o for o in outputs if o.ndim == 2 and o.shape[1] == expected_proba.shape[1])
    worst = float(np.max(np.abs(proba - expected_proba)))
    if worst > 1e-4:
        raise SystemExit(f"{name}: the ONNX export differs from the library by {worst} in probability")


def save(folder, name, content):
    path = os.path.join(folder, name)
    mode = "wb" if isinstance(content, bytes) else "w"
    with open(path, mode) as f:
        f.write(content)


def random_forest(out):
    import joblib
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier
    from skl2onnx import to_onnx

    x, y = load_iris(return_X_y=True)
    x = x.astype(np.float32)
    rf = RandomForestClassifier(n_estimators=100, random_state=SEED).fit(x, y)
    onnx_model = to_onnx(rf, x[:1], target_opset={"": 17, "ai.onnx.ml": 3},
                         options={type(rf): {"zipmap": False}})
    check_onnx(onnx_model, x, rf.predict_proba(x), "rf100")
    folder = os.path.join(out, "rf100")
    os.makedirs(folder, exist_ok=True)
    save(folder, "model.onnx", onnx_model.SerializeToString())
    save(folder, "deployment.json", json.dumps({
        "name": "rf100",
        "description": "Random forest (100 trees) on iris exported by skl2onnx, served natively",
        "model_name": "rf100", "model_version": 1, "artifact_version": 1,
        "model_framework": "SKLEARN", "model_file": "model.onnx",
        "resources": {"requests": {"cores": 0.2, "memory": 32}, "limits": {"cores": 2, "memory": 1024}},
    }, indent=2))
    write_rows(folder, x)
    peer = os.path.join(out, "rf100-sklearn")
    os.makedirs(peer, exist_ok=True)
    joblib.dump(rf, os.path.join(peer, "model.joblib"))
    return {"name": "RF-100", "dir": "rf100", "width": x.shape[1], "files": ["model.onnx"]}


def synthetic(classes):
    """30 features, 12 informative: wider than iris, as boosted models' inputs usually are."""
    from sklearn.datasets import make_classification

    x, y = make_classification(n_samples=5000, n_features=30, n_informative=12, n_classes=classes,
                               random_state=SEED + classes)
    return x.astype(np.float32)[:4000], y[:4000], x.astype(np.float32)[4000:]


def onnxml(model, width, convert):
    from onnxmltools.convert.common.data_types import FloatTensorType

    onnx_model = convert(model, initial_types=[("input", FloatTensorType([None, width]))], target_opset=15)
    # onnxmltools declares LightGBM's label output as shape [1] whatever the batch; left so,
    # onnxruntime logs a warning on every call of more than one row (and the bench would time
    # its logging). The batch dimension is unknown, as on the input.
    for output in onnx_model.graph.output:
        dims = output.type.tensor_type.shape.dim
        if len(dims) > 0 and dims[0].dim_value == 1:
            dims[0].Clear()
    return onnx_model


def xgboost_binary(out):
    import xgboost as xgb
    from onnxmltools import convert_xgboost

    x, y, held_out = synthetic(2)
    model = xgb.XGBClassifier(n_estimators=500, max_depth=6, learning_rate=0.1, tree_method="hist",
                              random_state=SEED).fit(x, y)
    onnx_model = onnxml(model, x.shape[1], convert_xgboost)
    check_onnx(onnx_model, held_out, model.predict_proba(held_out), "xgb500")
    folder = os.path.join(out, "xgb500")
    os.makedirs(folder, exist_ok=True)
    model.get_booster().save_model(os.path.join(folder, "model.json"))
    save(folder, "model.onnx", onnx_model.SerializeToString())
    write_rows(folder, held_out)
    return {"name": "XGBoost-500", "dir": "xgb500", "width": x.shape[1], "files": ["model.onnx", "model.json"]}


def lightgbm_multiclass(out):
    import lightgbm as lgb
    from onnxmltools import convert_lightgbm

    x, y, held_out = synthetic(5)
    model = lgb.LGBMClassifier(n_estimators=100, num_leaves=31, random_state=SEED, verbose=-1).fit(x, y)
    onnx_model = onnxml(model, x.shape[1], lambda m, **kw: convert_lightgbm(m, zipmap=False, **kw))
    check_onnx(onnx_model, held_out, model.predict_proba(held_out), "lgbm")
    folder = os.path.join(out, "lgbm")
    os.makedirs(folder, exist_ok=True)
    model.booster_.save_model(os.path.join(folder, "model.txt"))
    save(folder, "model.onnx", onnx_model.SerializeToString())
    write_rows(folder, held_out)
    return {"name": "LightGBM", "dir": "lgbm", "width": x.shape[1], "files": ["model.onnx", "model.txt"]}


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    models = [random_forest(out), xgboost_binary(out), lightgbm_multiclass(out)]
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump({"models": models}, f, indent=2)
    for m in models:
        print(f"{m['name']}: {', '.join(os.path.join(out, m['dir'], f) for f in m['files'])}")


if __name__ == "__main__":
    main()
