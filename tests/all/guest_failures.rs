//! A guest that traps, panics, fails or answers garbage never takes the host down: the
//! client gets a 5xx naming the deployment (4xx for the guest's `bad-input`), a trapped
//! instance is discarded, and the next request succeeds on a healthy instance.

use predictor_tests::{DeploymentDir, TestServer, guests};
use serde_json::json;

fn component(name: &str, wasm: &str) -> DeploymentDir {
    DeploymentDir::new(&json!({"name": name, "component_file": "predictor.wasm",
                               "scaling_configuration": {"max_instances": 1}}))
    .with_file("predictor.wasm", std::fs::read(wasm).unwrap())
}

#[tokio::test]
async fn a_panicking_guest_is_discarded_and_the_next_request_succeeds() {
    let dir = component("panics", guests::PANICS);
    let server = TestServer::start(&[&dir]).await;
    let path = "/v1/models/panics:predict";

    let (status, body) = server.post(path, &json!({"instances": ["a"]})).await;
    assert_eq!((status, &body["calls"]), (200, &json!(1)));
    let (_, body) = server.post(path, &json!({"instances": ["b"]})).await;
    assert_eq!(body["calls"], 2, "the warm instance is reused: {body}");

    let (status, body) = server.post(path, &json!({"instances": ["panic"]})).await;
    assert_eq!(status, 500, "{body}");
    let message = body["error"].as_str().unwrap();
    assert!(message.contains("deployment \"panics\""), "{message}");
    assert!(message.contains("trapped"), "{message}");

    let (status, body) = server.post(path, &json!({"instances": ["c"]})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["calls"], 1,
        "a fresh instance replaced the trapped one: {body}"
    );
    let stats = &server.deployment("panics");
    let predictor_runtime::Predictor::Component(c) = stats.predictor().unwrap() else {
        panic!()
    };
    assert_eq!(c.pool().metrics.instances_stopped.get(), 1);

    // The typed path traps the same way and recovers the same way.
    let tensors = |name: &str| json!({"inputs": [{"name": name, "shape": [1], "datatype": "INT32", "data": [7]}]});
    let (status, _) = server
        .post("/v2/models/panics/infer", &tensors("panic"))
        .await;
    assert_eq!(status, 500);
    let (status, body) = server.post("/v2/models/panics/infer", &tensors("x")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["outputs"][0]["data"], json!([7]));

    // Errors the guest reports: bad-input is the client's (400), internal is the deployment's (500).
    let (status, body) = server.post(path, &json!({"instances": ["bad"]})).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "instance 0 is \"bad\"");
    let (status, body) = server.post(path, &json!({"instances": ["fail"]})).await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(
        body["error"],
        "deployment \"panics\": the predictor failed: the database is down"
    );
    let (_, body) = server.post(path, &json!({"instances": ["d"]})).await;
    // The V2 trap replaced the instance again; since then: "bad", "fail", "d".
    assert_eq!(
        body["calls"], 3,
        "reported errors keep the instance: {body}"
    );
    server.stop().await;
}

#[tokio::test]
async fn malformed_guest_output_is_an_error_not_a_bad_answer() {
    let dir = component("malformed", guests::MALFORMED_OUTPUT);
    let server = TestServer::start(&[&dir]).await;

    let (status, body) = server
        .post("/v1/models/malformed:predict", &json!({"instances": [1]}))
        .await;
    assert_eq!(status, 500, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("malformed output: predictions are not valid JSON"),
        "{body}"
    );

    let v2 = json!({"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}]});
    let (status, body) = server.post("/v2/models/malformed/infer", &v2).await;
    assert_eq!(status, 500, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("5 bytes do not hold 4 FP32 elements"),
        "{body}"
    );

    let (status, body) = server
        .post(
            "/v1/models/malformed:predict",
            &json!({"instances": ["valid"]}),
        )
        .await;
    assert_eq!((status, body), (200, json!({"predictions": [1, 2, 3]})));
    server.stop().await;
}
