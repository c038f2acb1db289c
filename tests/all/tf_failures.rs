//! Damaged TensorFlow models fail their own deployment at deploy time, with a reason that
//! names the fault, and the server serves the others: a truncated `saved_model.pb`, a
//! corrupt variables index, a corrupt, truncated or missing data shard, a SavedModel without
//! the `serving_default` signature, a graph using an op we cannot run (listed with its
//! nodes), a Keras `.keras` file, a folder with no SavedModel in it.

use crate::tf_models::{saved_model_deployment, small};
use predictor_tests::{DeploymentDir, TestServer};
use serde_json::json;

const SHARD: &str = "model/1/variables/variables.data-00000-of-00001";
const INDEX: &str = "model/1/variables/variables.index";
const GRAPH: &str = "model/1/saved_model.pb";

/// The MLP fixture as deployment `name`, with `file` rewritten by `f`.
fn damaged(name: &str, file: &str, f: impl FnOnce(&mut Vec<u8>)) -> DeploymentDir {
    let dir = saved_model_deployment(name, "mlp_export", json!({}));
    let path = dir.path().join(file);
    let mut bytes = std::fs::read(&path).unwrap();
    f(&mut bytes);
    std::fs::write(&path, bytes).unwrap();
    dir
}

/// Replaces every occurrence of `from` by `to` (same length, so the protobuf stays valid).
fn replace_all(bytes: &mut [u8], from: &[u8], to: &[u8]) -> usize {
    assert_eq!(from.len(), to.len());
    let mut count = 0;
    let mut i = 0;
    while i + from.len() <= bytes.len() {
        if &bytes[i..i + from.len()] == from {
            bytes[i..i + from.len()].copy_from_slice(to);
            count += 1;
            i += from.len();
        } else {
            i += 1;
        }
    }
    count
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_tensorflow_models_fail_alone_with_their_reason() {
    let good = saved_model_deployment("good", "mlp_export", json!({}));
    let cases = [
        (
            damaged("truncated-graph", GRAPH, |b| b.truncate(b.len() / 2)),
            "saved_model.pb is not a valid SavedModel protocol buffer",
        ),
        (
            damaged("corrupt-index", INDEX, |b| b[10] ^= 0x55),
            "corrupt variables index variables/variables.index",
        ),
        (
            // Every byte flipped: whichever weight is read fails its checksum.
            damaged("corrupt-shard", SHARD, |b| {
                b.iter_mut().for_each(|x| *x ^= 0x20)
            }),
            "corrupt variables data variables/variables.data-00000-of-00001",
        ),
        (
            damaged("truncated-shard", SHARD, |b| b.truncate(b.len() - 7)),
            "truncated",
        ),
        (
            {
                let dir = saved_model_deployment("missing-shard", "mlp_export", json!({}));
                std::fs::remove_file(dir.path().join(SHARD)).unwrap();
                dir
            },
            "cannot read variables/variables.data-00000-of-00001",
        ),
        (
            // The signature key renamed in place (same length): no serving_default left.
            damaged("no-signature", GRAPH, |b| {
                assert!(replace_all(b, b"serving_default", b"serving_other__") > 0);
            }),
            "signature \"serving_default\" not found; the model has: serve, serving_other__",
        ),
        (
            // Every Relu node's op (NodeDef field 2, length 4) renamed to an op nobody has.
            damaged("unknown-op", GRAPH, |b| {
                assert!(replace_all(b, b"\x12\x04Relu", b"\x12\x04Rel0") > 0);
            }),
            "the graph uses operations this server cannot run: Rel0 (at ",
        ),
        (
            DeploymentDir::new(
                &json!({"name": "keras", "model_file": "model.keras", "resources": small()}),
            )
            .with_file(
                "model.keras",
                b"PK\x03\x04 a zip of config.json and weights",
            ),
            "model.export(",
        ),
        (
            {
                let dir = DeploymentDir::new(
                    &json!({"name": "empty", "model_file": "model", "resources": small()}),
                );
                std::fs::create_dir_all(dir.path().join("model/variables")).unwrap();
                std::fs::write(dir.path().join("model/variables/notes.txt"), "").unwrap();
                dir
            },
            "nor a numeric version folder",
        ),
    ];
    let mut dirs: Vec<&DeploymentDir> = cases.iter().map(|(d, _)| d).collect();
    dirs.push(&good);
    let server = TestServer::start(&dirs).await;
    for (dir, reason) in &cases {
        let definition: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("deployment.json")).unwrap())
                .unwrap();
        let name = definition["name"].as_str().unwrap();
        let (status, body) = server
            .post(
                &format!("/v1/models/{name}:predict"),
                &json!({"instances": [vec![0.0; 16]]}),
            )
            .await;
        assert_eq!(status, 503, "{name}: {body}");
        let message = body["error"].as_str().unwrap();
        assert!(
            message.contains("cannot load model") && message.contains(reason),
            "{name}: {message}"
        );
        let log = server.deployment(name).log.tail(50);
        assert!(
            log.iter().any(|l| l.message.contains(reason)),
            "{name}: {log:?}"
        );
    }
    let (status, body) = server
        .post(
            "/v1/models/good:predict",
            &json!({"instances": [vec![0.5; 16]]}),
        )
        .await;
    assert_eq!(status, 200, "the good deployment serves: {body}");
    assert_eq!(body["predictions"][0].as_array().unwrap().len(), 5);
    server.stop().await;
}
