//! TF Serving's `signature_name` picks any signature of a SavedModel, over real HTTP: the
//! `signatures` fixture (tf-native/scripts/make.py, TensorFlow's answers in
//! `signatures.json`) has `serving_default` (x*2 over `x`), its twin `serve`, `other` (input
//! `z`, outputs `projected` and `total`) and `cumulative` (Cumsum, an op we cannot run).
//! Row and columnar `:predict` answer each signature's outputs as TensorFlow does; the
//! unloadable one is a 400 naming the op while the others serve; batched concurrent requests
//! of different signatures each get their own answer; scale to zero and back serves them all.

use crate::tf_models::saved_model_deployment;
use crate::tf_serving_rest::{assert_close, error, fixture_json};
use predictor_tests::TestServer;
use serde_json::{Value, json};
use std::time::Duration;

fn expected() -> Value {
    fixture_json("signatures.json")
}

/// TF's answer for `signature` in row format: one object per row with several outputs, the
/// bare value with one.
fn rows(expected: &Value, signature: &str) -> Value {
    let outputs = expected[signature].as_object().unwrap();
    let n = outputs.values().next().unwrap().as_array().unwrap().len();
    let row = |i: usize| match outputs.len() {
        1 => outputs.values().next().unwrap()[i].clone(),
        _ => Value::Object(
            outputs
                .iter()
                .map(|(k, v)| (k.clone(), v[i].clone()))
                .collect(),
        ),
    };
    Value::Array((0..n).map(row).collect())
}

/// Asks `signature` of `model` over V1 rows and columns for its fixture input `input`.
async fn check(server: &TestServer, model: &str, signature: &str, input: &str) {
    let e = expected();
    // No name (an empty one) is the served signature.
    let answers = if signature.is_empty() {
        "serving_default"
    } else {
        signature
    };
    let path = format!("/v1/models/{model}:predict");
    let body = json!({"signature_name": signature, "instances": e[input]});
    let (status, answer) = server.post(&path, &body).await;
    assert_eq!(status, 200, "{signature}: {answer}");
    assert_close(signature, &answer["predictions"], &rows(&e, answers));
    let columns = json!({"signature_name": signature, "inputs": {input: e[input]}});
    let (status, answer) = server.post(&path, &columns).await;
    assert_eq!(status, 200, "{signature}: {answer}");
    let outputs = e[answers].as_object().unwrap();
    let want = match outputs.len() {
        1 => outputs.values().next().unwrap().clone(),
        _ => e[answers].clone(),
    };
    assert_close(signature, &answer["outputs"], &want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signature_name_picks_any_signature_of_a_saved_model() {
    let dir = saved_model_deployment("sigs", "signatures", json!({}));
    let server = TestServer::start(&[&dir]).await;
    let e = expected();
    for (signature, input) in [
        ("serving_default", "x"),
        ("", "x"),
        ("serve", "x"),
        ("other", "z"),
    ] {
        check(&server, "sigs", signature, input).await;
    }
    // Without a name, the served signature.
    let (status, answer) = server
        .post("/v1/models/sigs:predict", &json!({"instances": e["x"]}))
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_close(
        "default",
        &answer["predictions"],
        &rows(&e, "serving_default"),
    );
    // Each signature takes its own inputs.
    let wrong = json!({"signature_name": "other", "inputs": {"x": e["x"]}});
    let (status, answer) = server.post("/v1/models/sigs:predict", &wrong).await;
    assert_eq!(status, 400, "{answer}");
    // The signature with an op we cannot run is refused with why; the others still serve.
    let body = json!({"signature_name": "cumulative", "instances": e["x"]});
    let (status, answer) = server.post("/v1/models/sigs:predict", &body).await;
    assert_eq!(status, 400, "{answer}");
    let message = error(&answer);
    assert!(
        message.starts_with("Serving signature name: \"cumulative\" cannot be served")
            && message.contains("operations this server cannot run: Cumsum (at "),
        "{message}"
    );
    let log = server.deployment("sigs").log.tail(50);
    assert!(
        log.iter().any(|l| l
            .message
            .contains("signature \"cumulative\" cannot be served")
            && l.message.contains("Cumsum")),
        "{log:?}"
    );
    // `serve` computes what `serving_default` does: it shares its graph, only `other` has one.
    assert!(
        log.iter().any(|l| l.message
            == "signature(s) other served besides \"serving_default\", each by a graph of its own"),
        "{log:?}"
    );
    // Unknown names keep TF Serving's words.
    let body = json!({"signature_name": "nope", "instances": e["x"]});
    let (status, answer) = server.post("/v1/models/sigs:predict", &body).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(
        error(&answer),
        "Serving signature name: \"nope\" not found in signature def"
    );
    // Metadata lists the whole map; V2 serves the served signature.
    let (_, meta) = server.get("/v1/models/sigs/metadata").await;
    let defs = meta["metadata"]["signature_def"]["signature_def"]
        .as_object()
        .unwrap();
    let names: Vec<&String> = defs.keys().collect();
    assert_eq!(
        names,
        ["cumulative", "other", "serve", "serving_default"],
        "{meta}"
    );
    let (_, v2) = server.get("/v2/models/sigs").await;
    assert_eq!(v2["inputs"][0]["name"], "x", "{v2}");
    check(&server, "sigs", "other", "z").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batched_requests_of_different_signatures_get_their_own_answers() {
    let dir = saved_model_deployment(
        "sigs-batched",
        "signatures",
        json!({"inference_batcher": {"enabled": true, "max_batch_size": 32, "max_latency": 30}}),
    );
    let server = TestServer::start(&[&dir]).await;
    let e = expected();
    let calls = (0..24).map(|i| {
        let (signature, input) = match i % 3 {
            0 => ("serving_default", "x"),
            1 => ("other", "z"),
            _ => ("serve", "x"),
        };
        let row = i % 5;
        let body = json!({"signature_name": signature, "instances": [e[input][row]]});
        let want = rows(&e, signature)[row].clone();
        let server = &server;
        async move {
            let (status, answer) = server.post("/v1/models/sigs-batched:predict", &body).await;
            assert_eq!(status, 200, "{signature}: {answer}");
            assert_close(signature, &answer["predictions"][0], &want);
        }
    });
    futures_util::future::join_all(calls).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_signature_unloads_at_zero_and_loads_again_in_one_cold_start() {
    let dir = saved_model_deployment(
        "sigs-zero",
        "signatures",
        json!({"scaling_configuration": {"min_instances": 0, "scale_to_zero_retention_seconds": 1}}),
    );
    let server = TestServer::start(&[&dir]).await;
    check(&server, "sigs-zero", "other", "z").await;
    let series = |name: &str| {
        format!("predictor_{name}{{deployment=\"sigs-zero\",component=\"predictor\"}}")
    };
    // Counted from here: on a slow machine the 1 s retention may have passed once already.
    let colds = server.metric(&series("cold_start_seconds_count")).await;
    server
        .wait_for_metric(
            &series("instances"),
            0.0,
            Duration::from_secs(10),
            "never unloaded",
        )
        .await;
    // Another signature's request loads them all; the served one needs no second load.
    check(&server, "sigs-zero", "other", "z").await;
    check(&server, "sigs-zero", "serving_default", "x").await;
    assert_eq!(server.metric(&series("instances")).await, 1.0);
    assert_eq!(
        server.metric(&series("cold_start_seconds_count")).await,
        colds + 1.0
    );
    server.stop().await;
}
