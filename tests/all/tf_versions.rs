//! A TF Serving folder with several versions (`2/` an MLP, `7/` a CNN, from the fixtures)
//! serves the highest by default and each one by `/versions/N`, over V1 and V2, every answer
//! compared with TensorFlow's; a version not in the folder is a 404 naming the ones it has;
//! V1 status lists every version; the other version loads on its first request (a cold
//! start) and unloads with the default one at zero; batches never merge two versions' requests
//! (`2/` a GRU and `7/` an LSTM, same inputs); a deployment definition serves its folder so
//! too.

use crate::tf_models::{check_case_at, copy_tree, fixture_case, fixtures, small};
use predictor_runtime::ServeOptions;
use predictor_tests::{DeploymentDir, TestServer};
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};

const PLATFORM: &str = "tensorflow_savedmodel";

fn case(name: &str) -> Value {
    fixture_case(name)
}

/// `folder/2` the fixture `low`, `folder/7` the fixture `high`.
fn versions_folder(folder: &Path, low: &str, high: &str) {
    copy_tree(&fixtures().join(low).join("1"), &folder.join("2"));
    copy_tree(&fixtures().join(high).join("1"), &folder.join("7"));
}

fn series(name: &str, deployment: &str) -> String {
    format!("predictor_{name}{{deployment=\"{deployment}\",component=\"predictor\"}}")
}

/// The versions V1 status lists, in its order.
async fn listed(server: &TestServer, path: &str) -> Vec<String> {
    let (status, body) = server.get(path).await;
    assert_eq!(status, 200, "{body}");
    body["model_version_status"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            assert_eq!(s["state"], "AVAILABLE", "{body}");
            s["version"].as_str().unwrap().to_string()
        })
        .collect()
}

/// One row of `case`'s first input, as a V2 request.
fn one_row(case: &Value) -> Value {
    let (key, desc) = case["inputs"].as_object().unwrap().iter().next().unwrap();
    let shape: Vec<usize> = desc["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap() as usize)
        .collect();
    let row: usize = shape[1..].iter().product();
    let mut one = shape.clone();
    one[0] = 1;
    json!({"inputs": [{"name": key, "datatype": "FP32", "shape": one, "data": vec![0.5; row]}]})
}

/// Every answer of `name` (versions 2 = MLP, 7 = CNN) against TensorFlow's, and what each
/// path says of its version.
async fn check_versions(server: &TestServer, name: &str) {
    let (mlp, cnn) = (case("mlp_export"), case("cnn_export"));
    check_case_at(server, name, "", &cnn, PLATFORM).await;
    check_case_at(server, name, "/versions/7", &cnn, PLATFORM).await;
    check_case_at(server, name, "/versions/2", &mlp, PLATFORM).await;
    check_case_at(server, name, "/versions/002", &mlp, PLATFORM).await;

    // The version each path reports.
    for (at, version, case) in [
        ("", "7", &cnn),
        ("/versions/7", "7", &cnn),
        ("/versions/2", "2", &mlp),
    ] {
        let (status, meta) = server.get(&format!("/v1/models/{name}{at}/metadata")).await;
        assert_eq!(status, 200, "{meta}");
        assert_eq!(meta["model_spec"]["version"], version, "{at}: {meta}");
        let def = &meta["metadata"]["signature_def"]["signature_def"]["serving_default"];
        let key = case["inputs"].as_object().unwrap().keys().next().unwrap();
        assert!(def["inputs"].get(key).is_some(), "{at}: {meta}");
        let (status, body) = server
            .post(&format!("/v2/models/{name}{at}/infer"), &one_row(case))
            .await;
        assert_eq!(status, 200, "{at}: {body}");
        assert_eq!(body["model_version"], version, "{at}: {body}");
        let (status, meta) = server.get(&format!("/v2/models/{name}{at}")).await;
        assert_eq!(status, 200, "{meta}");
        assert_eq!(meta["versions"], json!(["2", "7"]), "{meta}");
        let (status, ready) = server.get(&format!("/v2/models/{name}{at}/ready")).await;
        assert_eq!(status, 200, "{ready}");
    }
    let (status, index) = server.post("/v2/repository/index", &json!({})).await;
    assert_eq!(status, 200);
    let entry = index
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == name)
        .unwrap();
    assert_eq!(entry["version"], "7", "{index}");

    // TF Serving lists every version, highest first; a version path, that one.
    assert_eq!(
        listed(server, &format!("/v1/models/{name}")).await,
        ["7", "2"]
    );
    assert_eq!(
        listed(server, &format!("/v1/models/{name}/versions/2")).await,
        ["2"]
    );
    assert_eq!(
        listed(server, &format!("/v1/models/{name}/versions/7")).await,
        ["7"]
    );

    // A version the folder has not got.
    let row = one_row(&cnn);
    let v1 = json!({"instances": [[0.0]]});
    for (status, body) in [
        server
            .post(&format!("/v1/models/{name}/versions/5:predict"), &v1)
            .await,
        server
            .post(
                &format!("/v1/models/{name}/versions/5:classify"),
                &json!({"examples": [{}]}),
            )
            .await,
        server.get(&format!("/v1/models/{name}/versions/5")).await,
        server
            .get(&format!("/v1/models/{name}/versions/5/metadata"))
            .await,
        server
            .post(&format!("/v2/models/{name}/versions/5/infer"), &row)
            .await,
        server.get(&format!("/v2/models/{name}/versions/5")).await,
        server
            .get(&format!("/v2/models/{name}/versions/5/ready"))
            .await,
        server.get(&format!("/v2/models/{name}/versions/x")).await,
    ] {
        assert_eq!(status, 404, "{body}");
        let error = body["error"].as_str().unwrap();
        assert!(error.contains("its versions: 2, 7"), "{error}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kserve_storage_folder_serves_each_version_by_its_path() {
    let storage = tempfile::tempdir().unwrap();
    versions_folder(storage.path(), "mlp_export", "cnn_export");
    let server = TestServer::start_options(ServeOptions {
        data_dir: predictor_tests::shared_data_dir(),
        deploy: vec![storage.path().to_path_buf()],
        model_name: Some("multi".into()),
        ..Default::default()
    })
    .await;
    let cold = series("cold_start_seconds_count", "multi");
    assert_eq!(
        server.metric(&cold).await,
        0.0,
        "only the default loads at deploy"
    );
    check_versions(&server, "multi").await;
    // Version 2 loaded once, on its first request, as a cold start.
    assert_eq!(server.metric(&cold).await, 1.0);
    assert_eq!(server.deployment("multi").config.model_version, 7);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_version_unloads_at_zero_and_loads_again() {
    let dir = DeploymentDir::new(&json!({
        "name": "versioned", "model_file": "model", "resources": small(),
        "model_server": "TENSORFLOW_SERVING", "model_framework": "TENSORFLOW",
        "scaling_configuration": {"min_instances": 0, "scale_to_zero_retention_seconds": 1},
    }));
    versions_folder(&dir.path().join("model"), "mlp_export", "cnn_export");
    let server = TestServer::start(&[&dir]).await;
    check_versions(&server, "versioned").await;
    let instances = series("instances", "versioned");
    let cold = series("cold_start_seconds_count", "versioned");
    let colds = server.metric(&cold).await;
    server
        .wait_for_metric(&instances, 0.0, Duration::from_secs(10), "never unloaded")
        .await;
    let deployment = server.deployment("versioned");
    assert_eq!(deployment.lifecycle_state().as_str(), "Idle");
    // Version 2 alone loads again: the deployment runs, and is idle again after it.
    check_case_at(
        &server,
        "versioned",
        "/versions/2",
        &case("mlp_export"),
        PLATFORM,
    )
    .await;
    assert_eq!(server.metric(&cold).await, colds + 1.0);
    assert_eq!(deployment.lifecycle_state().as_str(), "Running");
    check_case_at(&server, "versioned", "", &case("cnn_export"), PLATFORM).await;
    assert_eq!(server.metric(&cold).await, colds + 2.0);
    let started = Instant::now();
    while deployment.lifecycle_state().as_str() != "Idle" {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "never unloaded again"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_never_merge_two_versions() {
    // Same inputs (`seq`), same outputs: only the version tells the requests apart.
    let dir = DeploymentDir::new(&json!({
        "name": "recurrent", "model_file": "model", "resources": small(),
        "model_server": "TENSORFLOW_SERVING", "model_framework": "TENSORFLOW",
        "inference_batcher": {"enabled": true, "max_batch_size": 1000, "max_latency": 200},
    }));
    versions_folder(&dir.path().join("model"), "gru_export", "lstm_export");
    let server = TestServer::start(&[&dir]).await;
    let (gru, lstm) = (case("gru_export"), case("lstm_export"));
    // Load version 2 first, so both arrive in the batcher together.
    let (status, body) = server.get("/v1/models/recurrent/versions/2/metadata").await;
    assert_eq!(status, 200, "{body}");
    tokio::join!(
        check_case_at(&server, "recurrent", "/versions/2", &gru, PLATFORM),
        check_case_at(&server, "recurrent", "", &lstm, PLATFORM),
        check_case_at(&server, "recurrent", "/versions/7", &lstm, PLATFORM),
    );
    server.stop().await;
}
