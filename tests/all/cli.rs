//! `predictor check DIR`: validates a deployment folder the way `serve` would start it.

use predictor_runtime::cli::{CheckArgs, Command, run};
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
