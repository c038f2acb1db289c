//! TF Serving's REST routes at their edges: `/labels/L` paths (no labels are configured),
//! b64 strings in and `*_bytes` outputs out; and under hostile input: huge and odd signature
//! names, labels and verbs, malformed or deeply nested examples, base64 garbage, numbers out
//! of range, a component asked to classify. Every refusal is a 4xx (or 501) with a short
//! `{"error"}`, never a 500, and the server keeps serving.

use crate::tf_serving_rest::{error, onnx};
use predictor_tests::{DeploymentDir, TestServer, guests};
use serde_json::{Value, json};

/// Asserts a client error with a bounded message and returns the message.
fn refused(what: &str, status: u16, body: &Value) -> String {
    assert!(
        (400..500).contains(&status) || status == 501,
        "{what}: {status} {body}"
    );
    let message = body["error"]
        .as_str()
        .unwrap_or_else(|| panic!("{what}: no error in {body}"));
    assert!(
        message.len() < 2000,
        "{what}: a {}-byte message",
        message.len()
    );
    message.to_string()
}

#[tokio::test]
async fn hostile_signature_names_labels_and_verbs_are_refused() {
    let iris = DeploymentDir::example("iris-onnx", None);
    let server = TestServer::start(&[&iris]).await;
    let row = json!([5.1, 3.5, 1.4, 0.2]);
    let huge = "s".repeat(1 << 20);
    for name in [
        json!(huge),
        json!("serving_default\u{0}"),
        json!("../../serving_default"),
        json!("é".repeat(5000)),
        json!(" serving_default"),
        json!(7),
        json!(null),
        json!(["serving_default"]),
        json!({"b64": "x"}),
    ] {
        for (verb, body) in [
            (
                "predict",
                json!({"signature_name": name, "instances": [row]}),
            ),
            ("predict", json!({"inputs": [row], "signature_name": name})),
            (
                "classify",
                json!({"signature_name": name, "examples": [{"input": row}]}),
            ),
        ] {
            let (status, answer) = server.post(&format!("/v1/models/iris:{verb}"), &body).await;
            if name.is_null() && verb == "predict" {
                // JSON null is an absent name.
                assert_eq!(status, 200, "{answer}");
                continue;
            }
            refused(&format!("{verb} {:.40}", name.to_string()), status, &answer);
        }
    }
    let long_label = "l".repeat(10_000);
    for path in [
        format!("/v1/models/iris/labels/{long_label}"),
        "/v1/models/iris/labels/%00".to_string(),
        "/v1/models/iris/labels/a%2Fb/metadata".to_string(),
    ] {
        let (status, answer) = server.get(&path).await;
        refused(&path, status, &answer);
    }
    let long_verb = "v".repeat(10_000);
    for path in [
        format!("/v1/models/iris:{long_verb}"),
        "/v1/models/iris:".to_string(),
        "/v1/models/iris:predict:predict".to_string(),
        format!("/v1/models/iris/labels/{long_label}:predict"),
        "/v1/models/iris/versions/1:explain".to_string(),
    ] {
        let (status, answer) = server.post(&path, &json!({"instances": [row]})).await;
        refused(&path, status, &answer);
    }
    let (status, answer) = server.post("/v1/models/iris:frobnicate", &json!({})).await;
    assert_eq!(status, 501, "{answer}");
    let (status, answer) = server
        .post("/v1/models/iris:predict", &json!({"instances": [row]}))
        .await;
    assert_eq!(status, 200, "still serving: {answer}");
    server.stop().await;
}

#[tokio::test]
async fn malformed_examples_and_b64_garbage_are_refused() {
    let iris = DeploymentDir::example("iris-onnx", None);
    let echo = onnx("echo", "bytes_identity.onnx");
    let server = TestServer::start(&[&iris, &echo]).await;
    let deep = format!(
        r#"{{"examples": [{{"input": {}1{}}}]}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let many_missing = json!({"examples": vec![json!({}); 100_000]});
    let wide = json!({"examples": [{"input": vec![1.0; 200_000]}]});
    let cases: Vec<(&str, String)> = vec![
        ("iris", deep),
        ("iris", many_missing.to_string()),
        ("iris", wide.to_string()),
        (
            "iris",
            r#"{"examples": [{"input": [1, 2, 3, 4]}, {"input": [1, 2]}]}"#.into(),
        ),
        (
            "iris",
            r#"{"examples": [{"input": [1e999, 2, 3, 4]}]}"#.into(),
        ),
        ("iris", r#"{"examples": [{"input": "abcd"}]}"#.into()),
        ("iris", r#"{"examples": [{"input": {"a": 1}}]}"#.into()),
        (
            "iris",
            r#"{"examples": [{"input": [true, false, true, 1]}]}"#.into(),
        ),
        (
            "iris",
            r#"{"examples": [{"input": [1, 2, 3, 4]}], "context": 5}"#.into(),
        ),
        ("iris", r#"{"examples": [[1, 2, 3, 4]]}"#.into()),
        ("iris", r#"{"examples": null}"#.into()),
        ("iris", r#"[{"examples": []}]"#.into()),
        ("iris", r#"{"examples": [{"input": [1, 2, 3, 4]}]"#.into()),
        ("iris", "\u{feff}{}".into()),
        (
            "iris",
            String::from_utf8_lossy(&[b'{', 0xff, 0xfe, b'}']).into_owned(),
        ),
        ("echo", r#"{"examples": [{"x": {"b64": "%%%"}}]}"#.into()),
        (
            "echo",
            r#"{"examples": [{"x": {"b64": "aGk=", "more": 1}}]}"#.into(),
        ),
        ("echo", r#"{"examples": [{"x": {"b64": 12}}]}"#.into()),
        ("echo", r#"{"instances": [{"b64": "a"}]}"#.into()),
        ("echo", r#"{"instances": [{"b64": "aGk=", "x": 1}]}"#.into()),
        ("echo", r#"{"inputs": {"x": [{"b64": "===="}]}}"#.into()),
    ];
    for (model, body) in cases {
        for verb in ["classify", "regress", "predict"] {
            let (status, answer) = server
                .post_raw(&format!("/v1/models/{model}:{verb}"), body.clone())
                .await;
            refused(&format!("{model}:{verb} {:.60}", body), status, &answer);
        }
    }
    let (status, answer) = server
        .post(
            "/v1/models/iris:classify",
            &json!({"examples": [{"input": [5.1, 3.5, 1.4, 0.2]}]}),
        )
        .await;
    assert_eq!(status, 200, "still serving: {answer}");
    server.stop().await;
}

#[tokio::test]
async fn a_component_has_a_predict_signature_and_does_not_classify() {
    let bayes = DeploymentDir::example("rust-predictor", Some(guests::IRIS_NAIVE_BAYES));
    let server = TestServer::start(&[&bayes]).await;
    let (status, meta) = server.get("/v1/models/iris-bayes/metadata").await;
    assert_eq!(status, 200, "{meta}");
    let def = &meta["metadata"]["signature_def"]["signature_def"]["serving_default"];
    assert_eq!(def["method_name"], "tensorflow/serving/predict", "{meta}");
    let body = json!({"examples": [{"input": [5.1, 3.5, 1.4, 0.2]}]});
    for verb in ["classify", "regress"] {
        let (status, answer) = server
            .post(&format!("/v1/models/iris-bayes:{verb}"), &body)
            .await;
        let message = refused(verb, status, &answer);
        assert!(
            message.starts_with("Expected ") || message.contains("component"),
            "{message}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn labels_b64_and_bytes_outputs() {
    let bytes = onnx("echo", "bytes_identity.onnx");
    let server = TestServer::start(&[&bytes]).await;
    // No version labels are configured: TF Serving's answer for an unknown one.
    for (get, path) in [
        (true, "/v1/models/echo/labels/stable"),
        (true, "/v1/models/echo/labels/stable/metadata"),
        (false, "/v1/models/echo/labels/stable:predict"),
        (false, "/v1/models/echo/labels/stable:classify"),
    ] {
        let (status, body) = if get {
            server.get(path).await
        } else {
            server.post(path, &json!({"instances": ["a"]})).await
        };
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(error(&body), "Unrecognized servable version label: stable");
    }
    let (status, body) = server.get("/v1/models/nope/labels/stable").await;
    assert_eq!(status, 404, "{body}");

    // b64 in; `echo_bytes` out in b64 (TF Serving's `_bytes` rule), `echo` as text.
    let body = json!({"instances": [{"b64": "aGk="}, "yo", {"b64": "w6k="}]});
    let (status, answer) = server.post("/v1/models/echo:predict", &body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["predictions"],
        json!([
            {"echo": "hi", "echo_bytes": {"b64": "aGk="}},
            {"echo": "yo", "echo_bytes": {"b64": "eW8="}},
            {"echo": "é", "echo_bytes": {"b64": "w6k="}},
        ])
    );
    let body = json!({"inputs": {"x": [{"b64": "aGk="}]}});
    let (status, answer) = server.post("/v1/models/echo:predict", &body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["outputs"],
        json!({"echo": ["hi"], "echo_bytes": [{"b64": "aGk="}]})
    );
    let (status, answer) = server
        .post(
            "/v1/models/echo:predict",
            &json!({"instances": [{"b64": "!!"}]}),
        )
        .await;
    assert_eq!(status, 400, "{answer}");
    assert!(error(&answer).contains("base64"), "{answer}");
    // A graph's strings are text (tract's): bytes that are not UTF-8 are refused.
    let body = json!({"instances": [{"b64": "/wA="}]});
    let (status, answer) = server.post("/v1/models/echo:predict", &body).await;
    assert_eq!(status, 400, "{answer}");
    assert!(error(&answer).contains("UTF-8"), "{answer}");
    // A string model classifies nothing: TF Serving's method error.
    let (status, answer) = server
        .post(
            "/v1/models/echo:classify",
            &json!({"examples": [{"x": "a"}]}),
        )
        .await;
    assert_eq!(status, 400, "{answer}");
    assert!(
        error(&answer).starts_with("Expected classification signature"),
        "{answer}"
    );
    server.stop().await;
}
