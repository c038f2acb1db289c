//! A guest sees exactly its grants: its artifact files read-only, the Hopsworks environment
//! variables and its `env_vars`, stdout/stderr into the deployment's log; no host files, no
//! way out of the artifact folder, no network, none of the host's environment.

use predictor_runtime::LogSource;
use predictor_tests::{DeploymentDir, TestServer, guests};
use serde_json::{Value, json};
use std::collections::BTreeMap;

#[tokio::test]
async fn the_guest_sees_only_what_it_is_granted() {
    // SAFETY: set before any thread of this test reads the environment; the point is that
    // the guest must not see it.
    unsafe { std::env::set_var("HOST_SECRET_TOKEN", "do-not-leak") };
    let dir = DeploymentDir::new(&json!({
        "name": "probe", "model_name": "probe_model", "model_version": 3, "artifact_version": 5,
        "component_file": "predictor.wasm", "config_file": "config.json",
        "env_vars": {"FEATURE_FLAG": "on"}
    }))
    .with_file(
        "predictor.wasm",
        std::fs::read(guests::SANDBOX_PROBE).unwrap(),
    )
    .with_file("secret.txt", "artifact contents")
    .with_file("config.json", "{}");
    let server = TestServer::start(&[&dir]).await;

    let (status, body) = server
        .post("/v1/models/probe:predict", &json!({"instances": []}))
        .await;
    assert_eq!(status, 200, "{body}");
    // The probe answers an object: KServe passes an object result through as the body.
    let report = &body;

    let env: BTreeMap<String, String> = serde_json::from_value(report["env"].clone()).unwrap();
    let expected: BTreeMap<String, String> = [
        ("ARTIFACT_FILES_PATH", "/mnt/artifacts"),
        ("DEPLOYMENT_NAME", "probe"),
        ("MODEL_NAME", "probe_model"),
        ("MODEL_VERSION", "3"),
        ("ARTIFACT_VERSION", "5"),
        ("CONFIG_FILE_PATH", "/mnt/artifacts/config.json"),
        ("FEATURE_FLAG", "on"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(
        env, expected,
        "exactly these variables, nothing of the host's"
    );
    assert_eq!(report["args"], json!([]));

    assert_eq!(report["read_artifact"], json!({"Ok": "artifact contents"}));
    let mut listing: Vec<String> =
        serde_json::from_value(report["list_artifacts"]["Ok"].clone()).unwrap();
    listing.sort();
    assert_eq!(
        listing,
        [
            "config.json",
            "deployment.json",
            "predictor.wasm",
            "secret.txt"
        ]
    );
    for denied in [
        "write_artifact",
        "escape_parent",
        "read_etc_passwd",
        "read_root",
        "tcp_connect",
        "dns",
    ] {
        let outcome = report[denied].as_str().unwrap_or_default();
        assert!(
            outcome.starts_with("error:"),
            "{denied} must be refused, got {:?}",
            report[denied]
        );
    }
    // Refused by the sandbox itself, not by a missing feature of the guest's libc.
    assert!(
        report["tcp_connect"]
            .as_str()
            .unwrap()
            .contains("Permission denied"),
        "{report}"
    );
    assert!(
        report["write_artifact"]
            .as_str()
            .unwrap()
            .contains("not permitted"),
        "{report}"
    );
    assert!(
        report["escape_parent"]
            .as_str()
            .unwrap()
            .contains("not permitted"),
        "{report}"
    );
    assert!(
        !dir.path().join("new.txt").exists(),
        "nothing was written into the artifact folder"
    );

    let log = server.deployment("probe").log.tail(100);
    let lines = |source: LogSource| -> Vec<String> {
        log.iter()
            .filter(|l| l.source == source)
            .map(|l| l.message.clone())
            .collect()
    };
    assert!(
        lines(LogSource::Stdout).contains(&"probe initialised".to_string()),
        "{log:?}"
    );
    assert!(
        lines(LogSource::Stdout).contains(&"probe stdout line".to_string()),
        "{log:?}"
    );
    assert_eq!(lines(LogSource::Stderr), ["probe stderr line"], "{log:?}");
    let _: Value = body;
    server.stop().await;
}
