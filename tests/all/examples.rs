//! Every bundled example, served as `scripts/serve.sh` serves it, answers its own
//! `request.json` with the predictions the training library (scikit-learn, XGBoost, TensorFlow)
//! computed.

use crate::tf_models::copy_tree;
use predictor_tests::{
    DeploymentDir, TestServer, assert_close, column, generated, guests, reference,
};
use serde_json::{Value, json};

fn request(example: &str) -> Value {
    let path = predictor_tests::root()
        .join("examples")
        .join(example)
        .join("request.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[tokio::test]
async fn iris_onnx_is_served_natively_with_sklearn_predictions() {
    let dir = DeploymentDir::example("iris-onnx", None);
    let server = TestServer::start(&[&dir]).await;

    let (status, body) = server
        .post("/v1/models/iris:predict", &request("iris-onnx"))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["predictions"].as_array().unwrap().len(), 3);

    let body = server.predict_reference("iris").await;
    assert_eq!(
        column(&body["predictions"], "label"),
        reference()["logreg_labels"]
    );
    assert_close(
        &column(&body["predictions"], "probabilities"),
        &reference()["logreg_probabilities"],
        1e-5,
    );

    let v2 = json!({"id": "r1", "inputs": [{"name": "input", "shape": [3, 4], "datatype": "FP32",
                    "data": reference()["instances"]}]});
    let (status, body) = server.post("/v2/models/iris/infer", &v2).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], "r1");
    assert_eq!(body["outputs"][0]["name"], "label");
    assert_eq!(body["outputs"][0]["datatype"], "INT64");
    assert_eq!(body["outputs"][0]["data"], reference()["logreg_labels"]);
    assert_eq!(body["outputs"][1]["shape"], json!([3, 3]));
    assert_close(
        &body["outputs"][1]["data"],
        &reference()["logreg_probabilities"],
        1e-5,
    );
    server.stop().await;
}

#[tokio::test]
async fn rust_predictor_component_matches_sklearn_naive_bayes() {
    let dir = DeploymentDir::example("rust-predictor", Some(guests::IRIS_NAIVE_BAYES));
    let server = TestServer::start(&[&dir]).await;

    let (status, body) = server
        .post("/v1/models/iris-bayes:predict", &request("rust-predictor"))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["predictions"][0]["class"], "setosa");
    assert_eq!(body["predictions"][1]["class"], "versicolor");

    let body = server.predict_reference("iris-bayes").await;
    assert_close(
        &column(&body["predictions"], "probabilities"),
        &reference()["nb_probabilities"],
        1e-6,
    );

    let v2 = json!({"inputs": [{"name": "input", "shape": [3, 4], "datatype": "FP64", "data": reference()["instances"]}]});
    let (status, body) = server.post("/v2/models/iris-bayes/infer", &v2).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["outputs"][0]["data"], json!([0, 1, 2]));
    assert_close(
        &body["outputs"][1]["data"],
        &reference()["nb_probabilities"],
        1e-5,
    );

    // The guest's init logged through the `log` import, with the Hopsworks env vars.
    let log = server.deployment("iris-bayes").log.tail(100);
    assert!(
        log.iter()
            .any(|l| l.message.contains("loaded naive Bayes model iris_bayes v1")),
        "{log:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn multi_model_component_combines_two_onnx_models_through_the_host() {
    let dir = DeploymentDir::example("multi-model", Some(guests::IRIS_ENSEMBLE));
    let server = TestServer::start(&[&dir]).await;

    let (status, body) = server
        .post("/v1/models/iris-ensemble:predict", &request("multi-model"))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        column(&body["predictions"], "class"),
        json!(["setosa", "versicolor", "virginica"])
    );

    let body = server.predict_reference("iris-ensemble").await;
    let r = reference();
    let expected: Vec<Value> = (0..3)
        .map(|i| {
            let row: Vec<f64> = (0..3)
                .map(|c| {
                    (r["logreg_probabilities"][i][c].as_f64().unwrap()
                        + r["forest_probabilities"][i][c].as_f64().unwrap())
                        / 2.0
                })
                .collect();
            json!(row)
        })
        .collect();
    assert_close(
        &column(&body["predictions"], "probabilities"),
        &Value::Array(expected),
        1e-5,
    );
    server.stop().await;
}

#[tokio::test]
async fn xgboost_loans_is_served_as_saved_with_xgboosts_predictions() {
    let dir = DeploymentDir::example("xgboost-loans", None);
    let server = TestServer::start(&[&dir]).await;
    let (status, meta) = server.get("/v2/models/loans").await;
    assert_eq!(status, 200, "{meta}");
    assert_eq!(meta["platform"], "xgboost");
    assert_eq!(
        meta["inputs"],
        json!([{"name": "input", "datatype": "FP32", "shape": [-1, 6]}])
    );
    // The request file is the reference instances (a missing value is null).
    let request = request("xgboost-loans");
    assert_eq!(request["instances"], reference()["loans_instances"]);
    let (status, body) = server.post("/v1/models/loans:predict", &request).await;
    assert_eq!(status, 200, "{body}");
    assert_close(
        &body["predictions"],
        &reference()["loans_predictions"],
        1e-5,
    );
    server.stop().await;
}

/// What TensorFlow answered for the Keras examples' requests (`make_tf_models.py`).
fn tf_reference() -> Value {
    let path = generated("target/example-models/tf_reference.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Serves Keras example `example` (its exported SavedModel in `model/1/`) as `name` and checks
/// its request.json is answered with TensorFlow's `expected` predictions.
async fn keras_example_matches_tensorflow(example: &str, name: &str, expected: &Value) {
    let dir = DeploymentDir::example(example, None);
    let model = generated(&format!("examples/{example}/model/1/saved_model.pb"));
    copy_tree(
        model.parent().unwrap().parent().unwrap(),
        &dir.path().join("model"),
    );
    let server = TestServer::start(&[&dir]).await;
    let (status, meta) = server.get(&format!("/v2/models/{name}")).await;
    assert_eq!(status, 200, "{meta}");
    assert_eq!(meta["platform"], "tensorflow_savedmodel", "{meta}");
    let (status, body) = server
        .post(&format!("/v1/models/{name}:predict"), &request(example))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_close(&body["predictions"], expected, 1e-4);
    server.stop().await;
}

#[tokio::test]
async fn keras_digits_cnn_is_served_natively_with_tensorflows_predictions() {
    let reference = tf_reference();
    keras_example_matches_tensorflow("keras-digits", "digits", &reference["digits_predictions"])
        .await;
    // The CNN was trained to tell the digits apart: its argmax is the drawn digit.
    let argmax: Vec<Value> = reference["digits_predictions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            let row = row.as_array().unwrap();
            let best = (0..row.len())
                .max_by(|&a, &b| {
                    row[a]
                        .as_f64()
                        .unwrap()
                        .total_cmp(&row[b].as_f64().unwrap())
                })
                .unwrap();
            json!(best)
        })
        .collect();
    assert_eq!(Value::Array(argmax), reference["digits_labels"]);
}

#[tokio::test]
async fn keras_churn_mlp_is_served_natively_with_tensorflows_predictions() {
    let reference = tf_reference();
    keras_example_matches_tensorflow("keras-churn", "churn", &reference["churn_predictions"]).await;
}

#[tokio::test]
async fn all_examples_serve_side_by_side_and_compiled_components_are_cached() {
    let data = tempfile::tempdir().unwrap();
    let dirs = [
        DeploymentDir::example("iris-onnx", None),
        DeploymentDir::example("rust-predictor", Some(guests::IRIS_NAIVE_BAYES)),
        DeploymentDir::example("multi-model", Some(guests::IRIS_ENSEMBLE)),
    ];
    let refs: Vec<&DeploymentDir> = dirs.iter().collect();
    let first = TestServer::start_with(&refs, data.path().to_path_buf(), 1 << 20).await;
    let (_, models) = first.get("/v1/models").await;
    assert_eq!(
        models,
        json!({"models": ["iris", "iris-bayes", "iris-ensemble"]})
    );
    let log = first.deployment("iris-bayes").log.tail(100);
    assert!(
        log.iter().any(|l| l.message.contains(") compiled in")),
        "{log:?}"
    );
    first.stop().await;

    let second = TestServer::start_with(&refs, data.path().to_path_buf(), 1 << 20).await;
    for name in ["iris-bayes", "iris-ensemble"] {
        let log = second.deployment(name).log.tail(100);
        assert!(
            log.iter()
                .any(|l| l.message.contains("loaded from the compile cache")),
            "{log:?}"
        );
    }
    let (status, _) = second
        .post("/v1/models/iris-ensemble:predict", &request("multi-model"))
        .await;
    assert_eq!(status, 200);
    second.stop().await;
}
