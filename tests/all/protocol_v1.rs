//! KServe V1 surface: liveness, listing, status (with TF Serving's version status), predict
//! in row and columnar format, versioned paths, request ids.

use predictor_tests::{DeploymentDir, TestServer};
use serde_json::json;

#[tokio::test]
async fn v1_endpoints_answer_as_kserve_clients_expect() {
    let dir = DeploymentDir::example("iris-onnx", None);
    let server = TestServer::start(&[&dir]).await;

    assert_eq!(server.get("/").await, (200, json!({"status": "alive"})));
    assert_eq!(
        server.get("/v1/models").await,
        (200, json!({"models": ["iris"]}))
    );
    let (status, body) = server.get("/v1/models/iris").await;
    assert_eq!(status, 200);
    assert_eq!(body["name"], "iris");
    assert_eq!(body["ready"], true);
    assert_eq!(body["model_version_status"][0]["state"], "AVAILABLE");
    let (status, _) = server.get("/v1/models/iris/versions/1").await;
    assert_eq!(status, 200);

    // Columnar `inputs` gives `outputs`, as TensorFlow Serving does.
    let (status, body) = server
        .post(
            "/v1/models/iris:predict",
            &json!({"inputs": [[5.1, 3.5, 1.4, 0.2], [7.7, 3.0, 6.1, 2.3]]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["outputs"]["label"], json!([0, 2]));
    assert_eq!(
        body["outputs"]["probabilities"].as_array().unwrap().len(),
        2
    );
    let (status, body) = server
        .post(
            "/v1/models/iris:predict",
            &json!({"inputs": {"input": [[5.1, 3.5, 1.4, 0.2]]}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["outputs"]["label"], json!([0]));

    // Versioned predict, and a version the deployment does not serve.
    let body = json!({"instances": [[5.1, 3.5, 1.4, 0.2]]});
    let (status, answer) = server
        .post("/v1/models/iris/versions/1:predict", &body)
        .await;
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = server
        .post("/v1/models/iris/versions/7:predict", &body)
        .await;
    assert_eq!(status, 404);
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("no version \"7\""),
        "{answer}"
    );
    let (status, answer) = server.post("/v1/models/iris:explain", &body).await;
    assert_eq!(status, 501);
    assert!(
        answer["error"].as_str().unwrap().contains(":explain"),
        "{answer}"
    );
    server.stop().await;
}

#[tokio::test]
async fn request_ids_are_echoed_or_made() {
    let dir = DeploymentDir::example("iris-onnx", None);
    let server = TestServer::start(&[&dir]).await;
    let url = format!("{}/v1/models/iris:predict", server.base);
    let body = json!({"instances": [[5.1, 3.5, 1.4, 0.2]]}).to_string();

    let r = server
        .client
        .post(&url)
        .header("x-request-id", "abc-123")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "abc-123");
    let r = server.client.post(&url).body(body).send().await.unwrap();
    let made = r.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(made.len(), 36, "a UUID: {made}");
    // Errors carry one too.
    let r = server
        .client
        .get(format!("{}/v1/models/nope", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.headers().contains_key("x-request-id"));
    server.stop().await;
}
