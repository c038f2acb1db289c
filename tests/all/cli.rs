//! `predictor check DIR`: validates a deployment folder the way `serve` would start it.

use predictor_runtime::{CheckArgs, Command, run};
use predictor_tests::{DeploymentDir, guests, shared_data_dir};
use serde_json::json;

async fn check(dir: &DeploymentDir) -> anyhow::Result<()> {
    run(Command::Check(CheckArgs {
        dir: dir.path().to_path_buf(),
        data_dir: shared_data_dir(),
        componentize_py: None,
    }))
    .await
}

#[tokio::test]
async fn check_accepts_the_examples_and_names_what_is_wrong_otherwise() {
    check(&DeploymentDir::example("iris-onnx", None))
        .await
        .unwrap();
    check(&DeploymentDir::example(
        "rust-predictor",
        Some(guests::IRIS_NAIVE_BAYES),
    ))
    .await
    .unwrap();

    let cases = [
        (
            DeploymentDir::new(
                &json!({"name": "x", "model_file": "m.onnx", "resources": {"limits": {"cores": 0, "memory": 10}}}),
            ),
            "resources.limits.cores: must be a positive number",
        ),
        (
            DeploymentDir::new(
                &json!({"name": "x", "model_file": "m.onnx", "inference_logger": {"mode": "SOME"}}),
            ),
            "inference_logger.mode: unknown variant `SOME`",
        ),
        (
            DeploymentDir::new(&json!({"name": "x", "model_file": "m.onnx"})),
            "model_file: \"m.onnx\" is not a file",
        ),
        (
            DeploymentDir::new(&json!({"name": "x", "component_file": "p.wasm"}))
                .with_file("p.wasm", "(component)"),
            "does not implement the predictor:runtime/predictor world",
        ),
    ];
    for (dir, says) in cases {
        let err = format!("{:#}", check(&dir).await.expect_err(says));
        assert!(err.contains(says), "{err}");
    }
}

/// `predictor build`: a Predict script and a Transformer script become components that
/// deploy as `component_file` and `transformer.component_file`, on a node that never sees
/// the scripts.
#[tokio::test]
async fn build_makes_components_that_deploy_without_their_scripts() {
    use predictor_runtime::{BuildArgs, BuildKind};
    use predictor_tests::{TestServer, reference, root};

    let out = tempfile::tempdir().unwrap();
    run(Command::Build(BuildArgs {
        script: root().join("examples/python-iris/predictor.py"),
        kind: BuildKind::Predictor,
        transformer: Some(root().join("examples/python-transformer/transformer.py")),
        output: Some(out.path().join("iris.wasm")),
        data_dir: shared_data_dir(),
        componentize_py: None,
    }))
    .await
    .unwrap();
    let predictor = std::fs::read(out.path().join("iris.wasm")).unwrap();
    let transformer = std::fs::read(out.path().join("transformer.wasm")).unwrap();
    let model = std::fs::read(root().join("examples/python-iris/model.onnx")).unwrap();

    let python = DeploymentDir::new(&json!({"name": "built", "component_file": "iris.wasm"}))
        .with_file("iris.wasm", &predictor)
        .with_file("model.onnx", &model);
    let wrapped = DeploymentDir::new(&json!({
        "name": "wrapped", "model_file": "model.onnx",
        "transformer": {"component_file": "transformer.wasm"}
    }))
    .with_file("transformer.wasm", &transformer)
    .with_file("model.onnx", &model);
    // A transformer component where a predictor is expected is refused by its world.
    let swapped = DeploymentDir::new(&json!({"name": "swapped", "component_file": "t.wasm"}))
        .with_file("t.wasm", &transformer);
    let server = TestServer::start(&[&python, &wrapped, &swapped]).await;

    let body = server.predict_reference("built").await;
    assert_eq!(body["predictions"], reference()["logreg_labels"]);
    let flower =
        json!({"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2});
    let (status, body) = server
        .post(
            "/v1/models/wrapped:predict",
            &json!({"instances": [flower]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["predictions"][0]["species"], "setosa");
    let (status, body) = server
        .post("/v1/models/swapped:predict", &json!({"instances": [1]}))
        .await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("does not implement the predictor:runtime/predictor world"),
        "{body}"
    );
    server.stop().await;

    // A script that cannot build: the error says why, and nothing is written.
    let bad = out.path().join("bad.py");
    std::fs::write(
        &bad,
        "import pandas\n\nclass Predict:\n    def predict(self, x):\n        return x\n",
    )
    .unwrap();
    let err = run(Command::Build(BuildArgs {
        script: bad.clone(),
        kind: BuildKind::Predictor,
        transformer: None,
        output: None,
        data_dir: shared_data_dir(),
        componentize_py: None,
    }))
    .await
    .unwrap_err();
    assert!(
        format!("{err:#}").contains("imports pandas, which the sandbox cannot provide"),
        "{err:#}"
    );
    assert!(!bad.with_extension("wasm").exists());
}

/// Logs written to a pipe (a file, a log collector) carry no colour codes: `predictor serve`
/// started, then stopped with SIGTERM so it logs its shutdown.
#[test]
fn serve_logs_to_a_pipe_without_colour() {
    use std::io::{BufRead as _, BufReader, Read as _};
    use std::process::{Command as Process, Stdio};

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let mut child = Process::new(env!("CARGO_BIN_EXE_predictor-e2e"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("--store-dir")
        .arg(dir.path().join("store"))
        .env("PREDICTOR_LOG", "info")
        // Colour must go because the output is a pipe, not because of the caller's NO_COLOR.
        .env_remove("NO_COLOR")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut listening = String::new();
    stdout.read_line(&mut listening).unwrap();
    // The line comes once the port is bound; an early exit closes the pipe instead.
    assert!(listening.contains("listening"), "{listening:?}");
    Process::new("kill")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    let mut out = listening.into_bytes();
    stdout.read_to_end(&mut out).unwrap();
    let finished = child.wait_with_output().unwrap();
    out.extend(&finished.stderr);
    let text = String::from_utf8_lossy(&out);
    assert!(
        text.contains("shutting down"),
        "no log line to check: {text}"
    );
    assert!(
        !out.contains(&0x1b),
        "colour codes in piped output: {text:?}"
    );
}
