"""TensorFlow Serving's REST API as its documentation shows clients using it: plain
`requests` with `json.dumps` bodies (bare NaN included), on the bundled ONNX iris example and
on a SavedModel whose served signature is a classify signature (a KServe storage folder
`target/tf-fixtures/methods_classify`, made by tf-native/scripts/make.py), whose second
signature `logits` is picked by `signature_name`."""

import json
import math

import pytest
import requests

from conftest import ROOT


@pytest.fixture(scope="session")
def tf_server(start_server):
    folder = ROOT / "target/tf-fixtures/methods_classify"
    assert (folder / "1/saved_model.pb").is_file(), "run scripts/setup.sh (it makes the TF fixtures)"
    return start_server("--deploy", str(folder), "--model-name", "classifier")


def test_status_metadata_and_predict_with_a_signature_name(server, reference):
    base = f"http://{server}/v1/models/iris"
    status = requests.get(base).json()
    assert status["model_version_status"][0]["state"] == "AVAILABLE"

    meta = requests.get(f"{base}/metadata").json()
    assert meta["model_spec"] == {"name": "iris", "signature_name": "", "version": "1"}
    signature = meta["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert signature["method_name"] == "tensorflow/serving/predict"
    assert signature["inputs"]["input"]["dtype"] == "DT_FLOAT"
    assert [d["size"] for d in signature["inputs"]["input"]["tensor_shape"]["dim"]] == ["-1", "4"]

    body = {"signature_name": "serving_default", "instances": reference["instances"]}
    answer = requests.post(f"{base}:predict", data=json.dumps(body))
    assert answer.status_code == 200, answer.text
    assert [p["label"] for p in answer.json()["predictions"]] == reference["logreg_labels"]

    answer = requests.post(f"{base}:predict", json={"signature_name": "other", "instances": [[1, 2, 3, 4]]})
    assert answer.status_code == 400
    assert answer.json()["error"] == 'Serving signature name: "other" not found in signature def'

    answer = requests.get(f"{base}/labels/canary")
    assert answer.status_code == 400
    assert answer.json()["error"] == "Unrecognized servable version label: canary"


def test_classify_an_onnx_classifier_with_examples(server, reference):
    examples = [{"input": row} for row in reference["instances"]]
    answer = requests.post(f"http://{server}/v1/models/iris:classify", json={"examples": examples})
    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    assert len(results) == len(examples)
    for result, label in zip(results, reference["logreg_labels"]):
        labels = [pair[0] for pair in result]
        scores = [pair[1] for pair in result]
        assert labels == ["0", "1", "2"]
        assert scores.index(max(scores)) == label
    # Python writes NaN bare; the server reads it.
    nan = json.dumps({"examples": [{"input": [float("nan"), 3.5, 1.4, 0.2]}]})
    assert "NaN" in nan
    answer = requests.post(f"http://{server}/v1/models/iris:classify", data=nan)
    assert answer.status_code == 200, answer.text


def test_a_saved_models_classify_signature(tf_server):
    expected = json.loads((ROOT / "target/tf-fixtures/methods.json").read_text())
    base = f"http://{tf_server}/v1/models/classifier"
    meta = requests.get(f"{base}/metadata").json()
    defs = meta["metadata"]["signature_def"]["signature_def"]
    assert defs["serving_default"]["method_name"] == "tensorflow/serving/classify"
    assert defs["logits"]["method_name"] == "tensorflow/serving/predict"

    examples = [{"x": row} for row in expected["x"]]
    answer = requests.post(f"{base}:classify", json={"signature_name": "serving_default", "examples": examples})
    assert answer.status_code == 200, answer.text
    for result, classes, scores in zip(answer.json()["results"], expected["classify"]["classes"],
                                       expected["classify"]["scores"]):
        assert [pair[0] for pair in result] == classes
        assert [pair[1] for pair in result] == pytest.approx(scores, abs=1e-5)

    answer = requests.post(f"{base}:regress", json={"examples": examples})
    assert answer.status_code == 400
    assert answer.json()["error"] == (
        "Expected regression signature method_name to be tensorflow/serving/regress. "
        "Was: tensorflow/serving/classify")

    # signature_name picks another signature: `logits` is a predict signature over `x`, whose
    # softmax is TensorFlow's classify scores.
    answer = requests.post(f"{base}:predict", json={"signature_name": "logits", "instances": expected["x"]})
    assert answer.status_code == 200, answer.text
    for logits, scores in zip(answer.json()["predictions"], expected["classify"]["scores"]):
        exps = [math.exp(v) for v in logits]
        assert [v / sum(exps) for v in exps] == pytest.approx(scores, abs=1e-5)
