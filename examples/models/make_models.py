"""Trains the example models on scikit-learn's bundled iris data and exports them.

Run by scripts/setup.sh (nothing is downloaded: iris ships inside scikit-learn). Every
output is deterministic for the pinned versions in scripts/requirements-models.txt.

Outputs (paths relative to the repository root):
  examples/iris-onnx/model.onnx          logistic regression, skl2onnx (LinearClassifier)
  examples/iris-onnx/model.joblib        the same estimator pickled, for the KServe peer bench
  examples/multi-model/logreg.onnx       logistic regression, skl2onnx
  examples/multi-model/forest.onnx       random forest, skl2onnx (TreeEnsembleClassifier)
  examples/rust-predictor/gaussian_nb.json  Gaussian naive Bayes parameters
"""

import json
import pathlib
import sys

import joblib
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB

ROOT = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).parents[2])
OPSETS = {"": 17, "ai.onnx.ml": 3}


def to_onnx(model, path):
    """Exports like a Hopsworks user would, with ZipMap off so probabilities stay a tensor."""
    onx = convert_sklearn(
        model,
        initial_types=[("input", FloatTensorType([None, 4]))],
        options={id(model): {"zipmap": False}},
        target_opset=OPSETS,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(onx.SerializeToString())
    print(f"wrote {path.relative_to(ROOT)}")


def main():
    iris = load_iris()
    x, y = iris.data.astype("float32"), iris.target

    logreg = LogisticRegression(max_iter=1000).fit(x, y)
    to_onnx(logreg, ROOT / "examples/iris-onnx/model.onnx")
    joblib.dump(logreg, ROOT / "examples/iris-onnx/model.joblib")
    to_onnx(logreg, ROOT / "examples/multi-model/logreg.onnx")

    forest = RandomForestClassifier(n_estimators=10, max_depth=4, random_state=0).fit(x, y)
    to_onnx(forest, ROOT / "examples/multi-model/forest.onnx")

    nb = GaussianNB().fit(x, y)
    params = {
        "feature_names": ["sepal_length", "sepal_width", "petal_length", "petal_width"],
        "class_names": [str(n) for n in iris.target_names],
        "class_prior": nb.class_prior_.tolist(),
        "theta": nb.theta_.tolist(),
        "var": nb.var_.tolist(),
    }
    out = ROOT / "examples/rust-predictor/gaussian_nb.json"
    out.write_text(json.dumps(params, indent=2) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")

    # Reference predictions the tests compare the served answers with.
    sample = x[[0, 50, 100]]
    reference = {
        "instances": sample.tolist(),
        "logreg_labels": logreg.predict(sample).tolist(),
        "logreg_probabilities": logreg.predict_proba(sample).tolist(),
        "forest_probabilities": forest.predict_proba(sample).tolist(),
        "nb_probabilities": nb.predict_proba(sample).tolist(),
    }
    out = ROOT / "target/example-models/reference.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(reference, indent=2) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
