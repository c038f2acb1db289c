//! Malformed or mismatched requests get a 4xx with `{"error": ..., "kind": ...}` saying what
//! is wrong (the kind stable and machine-readable), and the next good request on the same
//! deployment succeeds.

use predictor_tests::{DeploymentDir, TestServer, guests};
use serde_json::{Value, json};

fn error_of(body: &Value) -> &str {
    body["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error message: {body}"))
}

/// The error's kind, which must be the one its status stands for here.
fn kind_of(body: &Value, status: u16) -> &str {
    let kind = body["kind"]
        .as_str()
        .unwrap_or_else(|| panic!("no error kind: {body}"));
    let expected = match status {
        400 => "bad_request",
        404 => "not_found",
        405 => "method_not_allowed",
        413 => "payload_too_large",
        other => panic!("no kind expected for {other}"),
    };
    assert_eq!(kind, expected, "{body}");
    kind
}

#[tokio::test]
async fn malformed_and_mismatched_requests_are_refused_clearly() {
    let onnx = DeploymentDir::example("iris-onnx", None);
    let bayes = DeploymentDir::example("rust-predictor", Some(guests::IRIS_NAIVE_BAYES));
    let server = TestServer::start(&[&onnx, &bayes]).await;
    let good = json!({"instances": [[5.1, 3.5, 1.4, 0.2]]});

    let cases: Vec<(&str, String, u16, &str)> = vec![
        ("/v1/models/iris:predict", "{\"instances\": [[5.1, 3.5".into(), 400, "malformed JSON"),
        ("/v1/models/iris:predict", "not json at all".into(), 400, "malformed JSON"),
        ("/v1/models/iris:predict", json!({"data": [1]}).to_string(), 400, "no \"instances\""),
        ("/v1/models/iris:predict", json!({"instances": [[1, 2, 3]]}).to_string(), 400, "shape [1, 3]"),
        ("/v1/models/iris:predict", json!({"instances": [[1, 2, 3, 4], [1, 2]]}).to_string(), 400, "ragged"),
        ("/v1/models/iris:predict", json!({"instances": [[1, 2, 3, "x"]]}).to_string(), 400, "not a valid FP32"),
        ("/v1/models/iris:predict", json!({"instances": [[1, 2, 3, 4]], "inputs": []}).to_string(), 400, "not both"),
        ("/v1/models/nope:predict", good.to_string(), 404, "\"nope\" not found"),
        ("/v2/models/nope/infer", good.to_string(), 404, "\"nope\" not found"),
        (
            "/v2/models/iris/infer",
            json!({"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP64", "data": [1, 2, 3, 4]}]}).to_string(),
            400,
            "is FP64, the model takes FP32",
        ),
        (
            "/v2/models/iris/infer",
            json!({"inputs": [{"name": "input", "shape": [2, 2], "datatype": "FP32", "data": [1, 2, 3, 4]}]}).to_string(),
            400,
            "has shape [2, 2]",
        ),
        (
            "/v2/models/iris/infer",
            json!({"inputs": [{"name": "wrong", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}).to_string(),
            400,
            "unknown input \"wrong\"",
        ),
        (
            "/v2/models/iris/infer",
            json!({"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}],
                   "outputs": [{"name": "logits"}]}).to_string(),
            400,
            "requested output \"logits\"",
        ),
        (
            "/v2/models/iris-bayes/infer",
            json!({"inputs": [{"name": "input", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]}).to_string(),
            400,
            "expected [N, 4]",
        ),
        ("/v1/models/iris-bayes:predict", json!({"instances": [[1, 2]]}).to_string(), 400, "instance 0: expected 4 numbers"),
        ("/v1/models/iris-bayes:predict", json!({"instances": {"a": 1}}).to_string(), 400, "must be a list"),
    ];
    for (path, body, want_status, says) in cases {
        let (status, answer) = server.post_raw(path, body.clone()).await;
        assert_eq!(status, want_status, "{path} {body}: {answer}");
        assert!(error_of(&answer).contains(says), "{path} {body}: {answer}");
        kind_of(&answer, status);
        // Nothing is lost: the same deployment answers the next good request.
        let deployment = if path.contains("iris-bayes") {
            "iris-bayes"
        } else {
            "iris"
        };
        let (status, answer) = server
            .post(&format!("/v1/models/{deployment}:predict"), &good)
            .await;
        assert_eq!(status, 200, "after {path} {body}: {answer}");
    }
    server.stop().await;
}

#[tokio::test]
async fn oversized_bodies_unknown_routes_and_methods_get_json_errors() {
    let onnx = DeploymentDir::example("iris-onnx", None);
    let server = TestServer::start_with(&[&onnx], predictor_tests::shared_data_dir(), 1024).await;
    let big = json!({"instances": vec![[5.1, 3.5, 1.4, 0.2]; 200]});
    let (status, body) = server.post("/v1/models/iris:predict", &big).await;
    assert_eq!(status, 413);
    assert_eq!(error_of(&body), "request body too large");
    kind_of(&body, 413);

    let (status, body) = server.get("/v3/anything").await;
    assert_eq!(status, 404);
    assert!(error_of(&body).contains("no route for GET /v3/anything"));
    kind_of(&body, 404);
    let r = server
        .client
        .delete(format!("{}/v1/models", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    let body: Value = r.json().await.unwrap();
    assert!(error_of(&body).contains("DELETE is not allowed"));
    kind_of(&body, 405);
    server.stop().await;
}
