"""Trains the example models on scikit-learn's bundled iris data and exports them.

Run by scripts/setup.sh (nothing is downloaded: iris ships inside scikit-learn). Every
output is deterministic for the pinned versions in scripts/requirements-models.txt.

Outputs (paths relative to the repository root):
  examples/iris-onnx/model.onnx          logistic regression, skl2onnx (LinearClassifier)
  examples/iris-onnx/model.joblib        the same estimator pickled, for the KServe peer bench
  examples/multi-model/logreg.onnx       logistic regression, skl2onnx
  examples/python-iris/model.onnx        the same, for the Python Predict script
  examples/python-iris/model.joblib      the same pickled, for the script's scikit-learn form
  examples/python-transformer/model.onnx the same, behind a Python transformer
  examples/multi-model/forest.onnx       random forest, skl2onnx (TreeEnsembleClassifier)
  examples/rust-predictor/gaussian_nb.json  Gaussian naive Bayes parameters
  target/example-models/logreg_zipmap.onnx  skl2onnx's default export (ZipMap kept), for tests
  target/example-models/mlp.onnx         an MLP classifier as torch.onnx exports one (Gemm,
                                         Relu, Softmax, a named dynamic batch axis), for tests
  target/example-models/linear_*.onnx    the other LinearClassifier forms skl2onnx emits
                                         (string labels, binary, LinearSVC), for tests
  target/example-models/reference.json   scikit-learn's own predictions, for the tests
  target/example-models/mlp_784.onnx     a 784-512-512-10 MLP classifier (MNIST-sized, seeded
                                         weights, not trained), for the batching benchmark
  target/example-models/mlp_784_4096.onnx  784-4096-4096-10 (80 MB of weights, more than a
                                         CPU cache holds), for the batching benchmark
  target/example-models/mlp_4_65536.onnx   4-65536-2: small weights, a wide hidden layer (the
                                         memory limit tests)
  examples/xgboost-loans/model.json      an XGBoost classifier of loan defaults (tabular data
                                         made in code, with missing values), saved by
                                         booster.save_model as KServe's XGBoost server takes it
"""

import json
import pathlib
import sys

import joblib
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC
from sklearn.naive_bayes import GaussianNB
from sklearn.neural_network import MLPClassifier

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


def mlp_as_torch_export(mlp):
    """The fitted MLP as the graph `torch.onnx.export` gives for Linear-ReLU-Linear-Softmax
    with `dynamic_axes={"input": {0: "batch_size"}}`."""
    (w1, w2), (b1, b2) = mlp.coefs_, mlp.intercepts_
    init = [
        numpy_helper.from_array(w1.T.astype(np.float32), "fc1.weight"),
        numpy_helper.from_array(b1.astype(np.float32), "fc1.bias"),
        numpy_helper.from_array(w2.T.astype(np.float32), "fc2.weight"),
        numpy_helper.from_array(b2.astype(np.float32), "fc2.bias"),
    ]
    nodes = [
        helper.make_node("Gemm", ["input", "fc1.weight", "fc1.bias"], ["h"], transB=1),
        helper.make_node("Relu", ["h"], ["h_relu"]),
        helper.make_node("Gemm", ["h_relu", "fc2.weight", "fc2.bias"], ["logits"], transB=1),
        helper.make_node("Softmax", ["logits"], ["probs"], axis=1),
    ]
    graph = helper.make_graph(
        nodes, "mlp",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch_size", 4])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["batch_size", 3])],
        init,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="pytorch")
    onnx.checker.check_model(model)
    return model


ONNX_TYPES = {
    "BOOL": TensorProto.BOOL, "UINT8": TensorProto.UINT8, "UINT16": TensorProto.UINT16,
    "UINT32": TensorProto.UINT32, "UINT64": TensorProto.UINT64, "INT8": TensorProto.INT8,
    "INT16": TensorProto.INT16, "INT32": TensorProto.INT32, "INT64": TensorProto.INT64,
    "FP16": TensorProto.FLOAT16, "FP32": TensorProto.FLOAT, "FP64": TensorProto.DOUBLE,
    "BYTES": TensorProto.STRING,
}


def identity_of_every_type():
    """One Identity per ONNX element type tract supports: input `x_FP16` → output `y_FP16`."""
    nodes, inputs, outputs = [], [], []
    for name, t in ONNX_TYPES.items():
        nodes.append(helper.make_node("Identity", [f"x_{name}"], [f"y_{name}"]))
        inputs.append(helper.make_tensor_value_info(f"x_{name}", t, ["n"]))
        outputs.append(helper.make_tensor_value_info(f"y_{name}", t, ["n"]))
    graph = helper.make_graph(nodes, "identity_types", inputs, outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    return model


def bytes_identity():
    """A string input `x` echoed as `echo` and as `echo_bytes` (TF Serving answers outputs
    named `*_bytes` in base64)."""
    nodes = [
        helper.make_node("Identity", ["x"], ["echo"]),
        helper.make_node("Identity", ["x"], ["echo_bytes"]),
    ]
    inputs = [helper.make_tensor_value_info("x", TensorProto.STRING, ["n"])]
    outputs = [
        helper.make_tensor_value_info(name, TensorProto.STRING, ["n"])
        for name in ("echo", "echo_bytes")
    ]
    graph = helper.make_graph(nodes, "bytes_identity", inputs, outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    return model


def mlp_as_tf2onnx_export(mlp):
    """The same MLP as tf2onnx exports a Keras `Sequential` of two `Dense` layers: MatMul and
    Add rather than Gemm, `dense_input` named after the first layer, an `unk__` batch axis."""
    (w1, w2), (b1, b2) = mlp.coefs_, mlp.intercepts_
    init = [
        numpy_helper.from_array(w1.astype(np.float32), "dense/MatMul/ReadVariableOp:0"),
        numpy_helper.from_array(b1.astype(np.float32), "dense/BiasAdd/ReadVariableOp:0"),
        numpy_helper.from_array(w2.astype(np.float32), "dense_1/MatMul/ReadVariableOp:0"),
        numpy_helper.from_array(b2.astype(np.float32), "dense_1/BiasAdd/ReadVariableOp:0"),
    ]
    nodes = [
        helper.make_node("MatMul", ["dense_input", "dense/MatMul/ReadVariableOp:0"], ["dense/MatMul:0"]),
        helper.make_node("Add", ["dense/MatMul:0", "dense/BiasAdd/ReadVariableOp:0"], ["dense/BiasAdd:0"]),
        helper.make_node("Relu", ["dense/BiasAdd:0"], ["dense/Relu:0"]),
        helper.make_node("MatMul", ["dense/Relu:0", "dense_1/MatMul/ReadVariableOp:0"], ["dense_1/MatMul:0"]),
        helper.make_node("Add", ["dense_1/MatMul:0", "dense_1/BiasAdd/ReadVariableOp:0"], ["dense_1/BiasAdd:0"]),
        helper.make_node("Softmax", ["dense_1/BiasAdd:0"], ["dense_1"], axis=-1),
    ]
    graph = helper.make_graph(
        nodes, "tf2onnx",
        [helper.make_tensor_value_info("dense_input", TensorProto.FLOAT, ["unk__6", 4])],
        [helper.make_tensor_value_info("dense_1", TensorProto.FLOAT, ["unk__7", 3])],
        init,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="tf2onnx")
    onnx.checker.check_model(model)
    return model


def mlp_classifier(sizes, name, seed=0):
    """An MLP classifier of layer `sizes` as torch.onnx exports one: Gemm + Relu between
    layers, Softmax last, a dynamic batch axis. The weights are seeded He-initialised values:
    the batching benchmark measures serving, and a trained model's weights cost the same."""
    rng = np.random.default_rng(seed)
    init, nodes, x = [], [], "input"
    for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        w = (rng.standard_normal((n_out, n_in)) * np.sqrt(2.0 / n_in)).astype(np.float32)
        b = np.zeros(n_out, dtype=np.float32)
        init += [numpy_helper.from_array(w, f"fc{i}.weight"), numpy_helper.from_array(b, f"fc{i}.bias")]
        nodes.append(helper.make_node("Gemm", [x, f"fc{i}.weight", f"fc{i}.bias"], [f"fc{i}"], transB=1))
        x = f"fc{i}"
        if i < len(sizes) - 2:
            nodes.append(helper.make_node("Relu", [x], [f"relu{i}"]))
            x = f"relu{i}"
    nodes.append(helper.make_node("Softmax", [x], ["probs"], axis=1))
    graph = helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch_size", sizes[0]])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["batch_size", sizes[-1]])],
        init,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="pytorch")
    # IR 8 (what torch.onnx writes for opset 17): onnxruntime, which the peer runs, reads up to 11.
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


LOAN_FEATURES = ["income_k", "debt_ratio", "age", "years_employed", "open_accounts", "late_payments"]


def loans(n, seed):
    """Loan applications and whether they defaulted: a made-up rule plus noise, a tenth of
    the values missing (XGBoost learns where missing values go)."""
    rng = np.random.default_rng(seed)
    x = np.column_stack([
        rng.lognormal(4.0, 0.5, n),        # income, thousands
        rng.beta(2.0, 5.0, n),             # debt to income
        rng.integers(18, 80, n),           # age
        rng.exponential(6.0, n),           # years employed
        rng.poisson(4.0, n),               # open accounts
        rng.poisson(0.5, n),               # late payments
    ]).astype(np.float32)
    risk = 3.0 * x[:, 1] + 0.6 * x[:, 5] - 0.01 * x[:, 0] - 0.05 * x[:, 3] + rng.normal(0, 0.5, n)
    y = (risk > 0.6).astype(np.int64)
    x[rng.random(x.shape) < 0.1] = np.nan
    return x, y


def xgboost_loans():
    """The XGBoost example: 200 trees of depth 4, saved as JSON."""
    import xgboost

    x, y = loans(5000, seed=7)
    booster = xgboost.train(
        {"objective": "binary:logistic", "max_depth": 4, "eta": 0.1, "seed": 0, "nthread": 1},
        xgboost.DMatrix(x, label=y, feature_names=LOAN_FEATURES),
        num_boost_round=200,
    )
    out = ROOT / "examples/xgboost-loans/model.json"
    booster.save_model(str(out))
    print(f"wrote {out.relative_to(ROOT)}")
    sample, _ = loans(4, seed=11)
    sample[0, 2] = np.nan
    request = {"instances": [[None if np.isnan(v) else float(v) for v in row] for row in sample]}
    (ROOT / "examples/xgboost-loans/request.json").write_text(json.dumps(request) + "\n")
    predictions = booster.predict(xgboost.DMatrix(sample, feature_names=LOAN_FEATURES))
    return {"loans_instances": request["instances"], "loans_predictions": predictions.tolist()}


def main():
    iris = load_iris()
    x, y = iris.data.astype("float32"), iris.target

    logreg = LogisticRegression(max_iter=1000).fit(x, y)
    to_onnx(logreg, ROOT / "examples/iris-onnx/model.onnx")
    joblib.dump(logreg, ROOT / "examples/iris-onnx/model.joblib")
    to_onnx(logreg, ROOT / "examples/multi-model/logreg.onnx")
    to_onnx(logreg, ROOT / "examples/python-iris/model.onnx")
    joblib.dump(logreg, ROOT / "examples/python-iris/model.joblib")
    to_onnx(logreg, ROOT / "examples/python-transformer/model.onnx")

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

    fixtures = ROOT / "target/example-models"
    fixtures.mkdir(parents=True, exist_ok=True)
    default_export = convert_sklearn(
        logreg, initial_types=[("input", FloatTensorType([None, 4]))], target_opset=OPSETS
    )
    (fixtures / "logreg_zipmap.onnx").write_bytes(default_export.SerializeToString())

    mlp = MLPClassifier(hidden_layer_sizes=(16,), max_iter=2000, random_state=0).fit(x, y)
    (fixtures / "mlp.onnx").write_bytes(mlp_as_torch_export(mlp).SerializeToString())
    (fixtures / "mlp_keras.onnx").write_bytes(mlp_as_tf2onnx_export(mlp).SerializeToString())

    (fixtures / "identity_types.onnx").write_bytes(identity_of_every_type().SerializeToString())
    (fixtures / "bytes_identity.onnx").write_bytes(bytes_identity().SerializeToString())
    (fixtures / "mlp_784.onnx").write_bytes(mlp_classifier([784, 512, 512, 10], "mlp_784").SerializeToString())
    wide = mlp_classifier([784, 4096, 4096, 10], "mlp_784_4096")
    onnx.save(wide, fixtures / "mlp_784_4096.onnx")
    # 1 MB of weights but 256 KB of hidden layer per row: a large batch outgrows a memory limit
    # the model itself fits in (the native graphs' memory limit tests).
    onnx.save(mlp_classifier([4, 65536, 2], "mlp_4_65536"), fixtures / "mlp_4_65536.onnx")

    # The other LinearClassifier forms: string class labels, the binary single-model layout,
    # and LinearSVC's raw scores (post_transform NONE).
    names = iris.target_names[y]
    logreg_strings = LogisticRegression(max_iter=1000).fit(x, names)
    to_onnx(logreg_strings, fixtures / "linear_strings.onnx")
    binary = LogisticRegression(max_iter=1000).fit(x, (y == 2).astype("int64"))
    to_onnx(binary, fixtures / "linear_binary.onnx")
    svc = LinearSVC(random_state=0, max_iter=5000).fit(x, y)
    svc_onnx = convert_sklearn(svc, initial_types=[("input", FloatTensorType([None, 4]))], target_opset=OPSETS)
    (fixtures / "linear_svc.onnx").write_bytes(svc_onnx.SerializeToString())

    # Reference predictions the tests compare the served answers with.
    sample = x[[0, 50, 100]]
    reference = {
        "instances": sample.tolist(),
        "logreg_labels": logreg.predict(sample).tolist(),
        "logreg_probabilities": logreg.predict_proba(sample).tolist(),
        "forest_probabilities": forest.predict_proba(sample).tolist(),
        "nb_probabilities": nb.predict_proba(sample).tolist(),
        "mlp_probabilities": mlp.predict_proba(sample).tolist(),
        "strings_labels": logreg_strings.predict(sample).tolist(),
        "strings_probabilities": logreg_strings.predict_proba(sample).tolist(),
        "binary_labels": binary.predict(sample).tolist(),
        "binary_probabilities": binary.predict_proba(sample).tolist(),
        "svc_labels": svc.predict(sample).tolist(),
        "svc_scores": svc.decision_function(sample).tolist(),
        **xgboost_loans(),
    }
    out = ROOT / "target/example-models/reference.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(reference, indent=2) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
