//! Deployments that cannot start (not a component, not our world, not ONNX, a failing
//! init, a missing file) become Failed with a reason that says why; the server stays up
//! and the other deployments serve.

use predictor_tests::{DeploymentDir, TestServer, guests};
use serde_json::json;

fn with_component(name: &str, bytes: impl AsRef<[u8]>) -> DeploymentDir {
    DeploymentDir::new(&json!({"name": name, "component_file": "predictor.wasm"}))
        .with_file("predictor.wasm", bytes)
}

#[tokio::test]
async fn broken_deployments_fail_alone_with_their_reason() {
    let good = DeploymentDir::example("iris-onnx", None);
    let core_module = with_component("core-module", b"\0asm\x01\0\0\0");
    let not_wasm = with_component("not-wasm", b"#!/bin/sh\necho hi\n");
    let other_world = with_component("other-world", "(component)");
    let init_fails = with_component("init-fails", std::fs::read(guests::INIT_FAILS).unwrap());
    let bad_model = DeploymentDir::new(&json!({"name": "bad-model", "model_file": "model.onnx"}))
        .with_file("model.onnx", b"this is not a protobuf");
    let missing = DeploymentDir::new(&json!({"name": "missing", "model_file": "model.onnx"}));
    let script = DeploymentDir::new(&json!({"name": "script", "script_file": "predictor.py"}))
        .with_file("predictor.py", "class Predict: pass\n");
    let dirs = [
        &good,
        &core_module,
        &not_wasm,
        &other_world,
        &init_fails,
        &bad_model,
        &missing,
        &script,
    ];
    let server = TestServer::start(&dirs).await;

    for (name, reason) in [
        ("core-module", "core WebAssembly module, not a component"),
        ("not-wasm", "does not start with the `\\0asm` header"),
        (
            "other-world",
            "does not implement the predictor:runtime/predictor world",
        ),
        (
            "init-fails",
            "init failed: weights.bin not found in the artifact",
        ),
        ("bad-model", "cannot load model model.onnx"),
        ("missing", "model_file: \"model.onnx\" is not a file"),
        (
            "script",
            "class Predict in predictor.py has no method predict",
        ),
    ] {
        let (status, body) = server
            .post(
                &format!("/v1/models/{name}:predict"),
                &json!({"instances": [1]}),
            )
            .await;
        assert_eq!(status, 503, "{name}: {body}");
        let message = body["error"].as_str().unwrap();
        assert!(
            message.contains(&format!("deployment {name:?} is not ready")),
            "{message}"
        );
        assert!(message.contains(reason), "{name}: {message}");
        assert_eq!(server.get(&format!("/v1/models/{name}")).await.0, 503);
        assert_eq!(server.get(&format!("/v2/models/{name}/ready")).await.0, 400);
        let log = server.deployment(name).log.tail(50);
        assert!(
            log.iter().any(|l| l.message.contains(reason)),
            "{name}: {log:?}"
        );
    }
    // The guest's own words before failing are in its log.
    let log = server.deployment("init-fails").log.tail(50);
    assert!(
        log.iter().any(|l| l
            .message
            .starts_with("looking for weights.bin in /mnt/artifacts")),
        "{log:?}"
    );

    let (status, body) = server.get("/v2/health/ready").await;
    assert_eq!(status, 400);
    assert!(
        body["error"].as_str().unwrap().contains("bad-model"),
        "{body}"
    );
    let (_, index) = server.post("/v2/repository/index", &json!({})).await;
    let failed = index
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["state"] == "UNAVAILABLE")
        .count();
    assert_eq!(failed, 7, "{index}");

    let (status, body) = server
        .post(
            "/v1/models/iris:predict",
            &json!({"instances": [[5.1, 3.5, 1.4, 0.2]]}),
        )
        .await;
    assert_eq!(status, 200, "the good deployment serves: {body}");
    server.stop().await;
}

#[tokio::test]
async fn an_unreadable_definition_stops_the_server_from_starting() {
    let bad = DeploymentDir::new(&json!({"name": "x", "model_file": "m.onnx", "replicas": 3}));
    let options = predictor_runtime::ServeOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: predictor_tests::shared_data_dir(),
        // A store of its own: no test restores another's deployments.
        store_dir: Some(predictor_tests::scratch_store()),
        deploy: vec![bad.path().to_path_buf()],
        max_body_bytes: 1024,
        ..Default::default()
    };
    let err = predictor_runtime::start(&options)
        .await
        .err()
        .expect("refused");
    let message = format!("{err:#}");
    assert!(message.contains("unknown field `replicas`"), "{message}");
}
