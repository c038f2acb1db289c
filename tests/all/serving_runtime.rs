//! The server as a KServe serving runtime: one `--deploy` folder (KServe's `/mnt/models`,
//! filled from the InferenceService's `storageUri`) served under the name KServe routes to
//! (`--model-name`), with or without a `deployment.json`.

use predictor_runtime::{ServeOptions, start};
use predictor_tests::{DeploymentDir, TestServer, shared_data_dir};
use serde_json::Value;

/// A copy of an example without the files named (its definition, other scripts).
fn storage(example: &str, without: &[&str]) -> DeploymentDir {
    let dir = DeploymentDir::example(example, None);
    for f in without {
        std::fs::remove_file(dir.path().join(f)).unwrap();
    }
    dir
}

async fn serve_as(dir: &DeploymentDir, name: &str) -> TestServer {
    TestServer::start_options(ServeOptions {
        data_dir: shared_data_dir(),
        deploy: vec![dir.path().to_path_buf()],
        model_name: Some(name.into()),
        ..ServeOptions::default()
    })
    .await
}

fn request(dir: &DeploymentDir) -> Value {
    serde_json::from_slice(&std::fs::read(dir.path().join("request.json")).unwrap()).unwrap()
}

#[tokio::test]
async fn a_model_without_a_definition_is_served_under_the_inference_service_name() {
    let dir = storage("iris-onnx", &["deployment.json"]);
    let server = serve_as(&dir, "sklearn-iris").await;
    let (status, body) = server
        .post("/v1/models/sklearn-iris:predict", &request(&dir))
        .await;
    assert_eq!(status, 200, "{body}");
    let labels: Vec<&Value> = body["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| &p["label"])
        .collect();
    assert_eq!(labels, [0, 1, 2], "{body}");
    let (status, meta) = server.get("/v2/models/sklearn-iris").await;
    assert_eq!(status, 200, "{meta}");
    assert_eq!(meta["platform"], "onnx_onnxv1");
    assert_eq!(server.get("/v2/models/sklearn-iris/ready").await.0, 200);
    assert_eq!(server.get("/v1/models/iris").await.0, 404);
    server.stop().await;
}

#[tokio::test]
async fn a_script_without_a_definition_is_served() {
    let dir = storage(
        "python-iris",
        &["deployment.json", "predictor_sklearn.py", "model.joblib"],
    );
    let server = serve_as(&dir, "iris-script").await;
    let (status, body) = server
        .post("/v1/models/iris-script:predict", &request(&dir))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        server
            .deployment("iris-script")
            .config
            .script_file
            .as_deref(),
        Some("predictor.py")
    );
    server.stop().await;
}

#[tokio::test]
async fn a_definition_is_served_under_the_given_name() {
    let dir = storage("iris-onnx", &[]);
    let server = serve_as(&dir, "iris-prod").await;
    let (status, body) = server
        .post("/v1/models/iris-prod:predict", &request(&dir))
        .await;
    assert_eq!(status, 200, "{body}");
    let deployment = server.deployment("iris-prod");
    assert_eq!(
        deployment.config.model_version, 1,
        "the rest of the definition is kept"
    );
    assert!(server.server.registry.get("iris").is_none());
    server.stop().await;
}

#[tokio::test]
async fn what_cannot_be_served_says_why() {
    let empty = DeploymentDir::example("iris-onnx", None);
    for f in ["deployment.json", "model.onnx"] {
        std::fs::remove_file(empty.path().join(f)).unwrap();
    }
    let err = start(&ServeOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: shared_data_dir(),
        store_dir: Some(predictor_tests::scratch_store()),
        deploy: vec![empty.path().to_path_buf()],
        model_name: Some("x".into()),
        ..ServeOptions::default()
    })
    .await
    .err()
    .expect("nothing to serve");
    let message = format!("{err:#}");
    assert!(
        message.contains("nothing to serve") && message.contains("model.joblib"),
        "{message}"
    );

    let (a, b) = (storage("iris-onnx", &[]), storage("iris-onnx", &[]));
    let err = start(&ServeOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: shared_data_dir(),
        store_dir: Some(predictor_tests::scratch_store()),
        deploy: vec![a.path().to_path_buf(), b.path().to_path_buf()],
        model_name: Some("x".into()),
        ..ServeOptions::default()
    })
    .await
    .err()
    .expect("one name for two folders");
    assert!(
        format!("{err:#}").contains("--model-name names the one --deploy folder; 2 given"),
        "{err:#}"
    );
}

/// The container arguments of `deploy/kserve/cluster-serving-runtime.yaml`, as KServe would
/// pass them for InferenceService `name` (only the `{{.Name}}` template is used).
fn manifest_args(name: &str) -> Vec<String> {
    let text = std::fs::read_to_string(
        predictor_tests::root().join("deploy/kserve/cluster-serving-runtime.yaml"),
    )
    .unwrap();
    let mut lines = text.lines().skip_while(|l| l.trim() != "args:").skip(1);
    let mut args = Vec::new();
    for line in lines.by_ref() {
        let line = line.trim();
        if line.starts_with('#') {
            continue;
        }
        let Some(arg) = line.strip_prefix("- ") else {
            break;
        };
        args.push(arg.replace("{{.Name}}", name));
    }
    args
}

/// What KServe runs, with this repository's manifest: the real binary, the manifest's
/// arguments, a storage folder holding one ONNX file at the manifest's model path, probed
/// on the manifest's readiness path, then predicted under the InferenceService's name.
#[test]
fn the_kserve_manifest_serves_a_storage_folder() {
    let args = manifest_args("sklearn-iris");
    assert_eq!(args[0], "serve", "{args:?}");
    assert!(
        args.contains(&"--model-name=sklearn-iris".to_string()),
        "{args:?}"
    );
    let storage = storage("iris-onnx", &["deployment.json", "model.joblib"]);
    let data = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // The pod's paths and port, moved to this machine's: the folder, the data dir, loopback.
    let args: Vec<String> = args
        .iter()
        .map(|a| {
            a.replace("/mnt/models", storage.path().to_str().unwrap())
                .replace("/var/lib/predictor", data.path().to_str().unwrap())
                .replace("0.0.0.0:8080", &format!("127.0.0.1:{port}"))
        })
        .collect();
    let _server = Killed(
        std::process::Command::new(env!("CARGO_BIN_EXE_predictor-e2e"))
            .args(&args)
            .env("PREDICTOR_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::blocking::Client::new();
    let started = std::time::Instant::now();
    loop {
        let ready = client
            .get(format!("{base}/v2/health/ready"))
            .send()
            .is_ok_and(|r| r.status() == 200);
        if ready {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "not ready with {args:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let r = client
        .post(format!("{base}/v1/models/sklearn-iris:predict"))
        .json(&request(&storage))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().unwrap();
    assert_eq!(body["predictions"][2]["label"], 2, "{body}");
    let metrics = client.get(format!("{base}/metrics")).send().unwrap();
    assert_eq!(metrics.status(), 200);
}

/// A child process killed when the test ends, passing or not.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
