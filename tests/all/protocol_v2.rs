//! Open Inference Protocol surface: server metadata, health, model metadata and readiness,
//! inference with output selection, versioned paths, the repository index.

use predictor_tests::{DeploymentDir, TestServer, guests};
use serde_json::json;

#[tokio::test]
async fn v2_endpoints_answer_as_the_protocol_says() {
    let onnx = DeploymentDir::example("iris-onnx", None);
    let bayes = DeploymentDir::example("rust-predictor", Some(guests::IRIS_NAIVE_BAYES));
    let server = TestServer::start(&[&onnx, &bayes]).await;

    let (status, body) = server.get("/v2").await;
    assert_eq!(status, 200);
    assert_eq!(body["name"], "predictor-runtime");
    assert!(body["extensions"].is_array());
    assert_eq!(
        server.get("/v2/health/live").await,
        (200, json!({"live": true}))
    );
    assert_eq!(server.get("/v2/health/ready").await.0, 200);

    let (status, body) = server.get("/v2/models/iris").await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"name": "iris", "versions": ["1"], "platform": "onnx_onnxv1",
               "inputs": [{"name": "input", "datatype": "FP32", "shape": [-1, 4]}],
               "outputs": [{"name": "label", "datatype": "INT64", "shape": [-1]},
                           {"name": "probabilities", "datatype": "FP32", "shape": [-1, 3]}]})
    );
    let (status, body) = server.get("/v2/models/iris-bayes/versions/1").await;
    assert_eq!(status, 200);
    assert_eq!(body["platform"], "wasm_component");
    assert_eq!(body["inputs"][0]["name"], "input");
    assert_eq!(server.get("/v2/models/iris/ready").await.0, 200);
    assert_eq!(server.get("/v2/models/iris/versions/1/ready").await.0, 200);
    assert_eq!(server.get("/v2/models/iris/versions/2/ready").await.0, 404);

    // Only the outputs asked for, in the order asked; nested data accepted.
    let request = json!({"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32",
                                      "data": [[6.2, 2.9, 4.3, 1.3]]}],
                         "outputs": [{"name": "probabilities"}]});
    for path in [
        "/v2/models/iris/infer",
        "/v2/models/iris/versions/1/infer",
        "/v2/models/iris-bayes/infer",
    ] {
        let (status, body) = server.post(path, &request).await;
        assert_eq!(status, 200, "{path}: {body}");
        let outputs = body["outputs"].as_array().unwrap();
        assert_eq!(outputs.len(), 1, "{body}");
        assert_eq!(outputs[0]["name"], "probabilities");
        assert_eq!(outputs[0]["shape"], json!([1, 3]));
    }

    let (status, body) = server.post("/v2/repository/index", &json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(body.as_array().unwrap().len(), 2);
    assert_eq!(
        body[0],
        json!({"name": "iris", "version": "1", "state": "READY", "reason": ""})
    );
    server.stop().await;
}
