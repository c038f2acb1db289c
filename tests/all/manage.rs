//! The management API: deployments uploaded to a running server (multipart), listed,
//! described, stopped, started, updated to a new version, rolled back and deleted; after a
//! restart on the same data dir every deployment is back in its last desired state. Bad
//! uploads are refused with a clear error and store nothing; a version that cannot start
//! never replaces the one serving.

use predictor_runtime::ServeOptions;
use predictor_tests::{TestServer, guests, root};
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};
use std::path::Path;

/// An upload: (path, contents) of each file.
type Files = Vec<(String, Vec<u8>)>;

async fn server(data_dir: &Path) -> TestServer {
    TestServer::start_options(ServeOptions {
        data_dir: data_dir.to_path_buf(),
        ..ServeOptions::default()
    })
    .await
}

/// A multipart form of `files` (path, bytes).
fn form(files: &[(&str, Vec<u8>)]) -> Form {
    files.iter().fold(Form::new(), |form, (path, bytes)| {
        form.part(
            "file",
            Part::bytes(bytes.clone()).file_name(path.to_string()),
        )
    })
}

fn example_files(example: &str, names: &[&str]) -> Files {
    names
        .iter()
        .map(|n| {
            let bytes = std::fs::read(root().join("examples").join(example).join(n)).unwrap();
            (n.to_string(), bytes)
        })
        .collect()
}

fn rust_upload() -> Files {
    example_files(
        "rust-predictor",
        &["deployment.json", "gaussian_nb.json", "predictor.wasm"],
    )
}

fn onnx_upload(description: &str) -> Files {
    let mut files = example_files("iris-onnx", &["model.onnx"]);
    let mut definition: Value = serde_json::from_slice(
        &std::fs::read(root().join("examples/iris-onnx/deployment.json")).unwrap(),
    )
    .unwrap();
    definition["description"] = json!(description);
    files.push((
        "deployment.json".into(),
        definition.to_string().into_bytes(),
    ));
    files
}

async fn upload(server: &TestServer, files: &Files) -> (u16, Value) {
    let files: Vec<(&str, Vec<u8>)> = files.iter().map(|(p, b)| (p.as_str(), b.clone())).collect();
    let r = server
        .client
        .post(format!("{}/api/deployments", server.base))
        .multipart(form(&files))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn predict(server: &TestServer, name: &str) -> u16 {
    server
        .post(
            &format!("/v1/models/{name}:predict"),
            &json!({"instances": [[5.1, 3.5, 1.4, 0.2]]}),
        )
        .await
        .0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploaded_deployments_are_driven_and_come_back_after_a_restart() {
    let data = tempfile::tempdir().unwrap();
    let server = server(data.path()).await;
    let (status, body) = upload(&server, &rust_upload()).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["state"], "Running");
    assert_eq!(body["version"], 1);
    assert_eq!(body["endpoints"]["v1"], "/v1/models/iris-bayes:predict");
    assert_eq!(predict(&server, "iris-bayes").await, 200);
    let (status, body) = upload(&server, &onnx_upload("first")).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(predict(&server, "iris").await, 200);

    let (status, list) = server.get("/api/deployments").await;
    assert_eq!(status, 200);
    let names: Vec<&str> = list["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["iris", "iris-bayes"]);

    // Stopped: it no longer answers; its versions stay.
    let (status, body) = server
        .post("/api/deployments/iris-bayes/stop", &json!({}))
        .await;
    assert_eq!(
        (status, body["state"].as_str()),
        (200, Some("Stopped")),
        "{body}"
    );
    assert_eq!(predict(&server, "iris-bayes").await, 404);

    // A new version, then back to the first.
    let (status, body) = upload(&server, &onnx_upload("second")).await;
    assert_eq!((status, body["version"].as_u64()), (201, Some(2)), "{body}");
    assert_eq!(body["definition"]["description"], "second");
    // The platform numbers versions: the served definition (and ARTIFACT_VERSION) says 2.
    assert_eq!(body["definition"]["artifact_version"], 2);
    let (status, body) = server
        .post("/api/deployments/iris/rollback?version=1", &json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["version"], 1);
    assert_eq!(body["definition"]["description"], "first");
    assert_eq!(body["definition"]["artifact_version"], 1);
    let (status, logs) = server.get("/api/deployments/iris/logs?tail=5").await;
    assert_eq!(status, 200, "{logs}");
    assert!(!logs["lines"].as_array().unwrap().is_empty(), "{logs}");
    server.stop().await;

    // Restarted on the same data dir: iris serves version 1, iris-bayes is still stopped.
    let server = self::server(data.path()).await;
    let (_, body) = server.get("/api/deployments/iris").await;
    assert_eq!(
        (body["state"].as_str(), body["version"].as_u64()),
        (Some("Running"), Some(1)),
        "{body}"
    );
    assert_eq!(predict(&server, "iris").await, 200);
    let (_, body) = server.get("/api/deployments/iris-bayes").await;
    assert_eq!(body["state"], "Stopped", "{body}");
    let (status, body) = server
        .post("/api/deployments/iris-bayes/start", &json!({}))
        .await;
    assert_eq!(
        (status, body["state"].as_str()),
        (200, Some("Running")),
        "{body}"
    );
    assert_eq!(predict(&server, "iris-bayes").await, 200);

    let (status, _) = server
        .client
        .delete(format!("{}/api/deployments/iris", server.base))
        .send()
        .await
        .map(|r| (r.status().as_u16(), ()))
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(server.get("/api/deployments/iris").await.0, 404);
    assert_eq!(predict(&server, "iris").await, 404);
    // A deleted deployment cannot be started.
    let (status, body) = server.post("/api/deployments/iris/start", &json!({})).await;
    assert_eq!(status, 404, "{body}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_uploads_are_refused_and_store_nothing() {
    let data = tempfile::tempdir().unwrap();
    let server = server(data.path()).await;
    let url = format!("{}/api/deployments", server.base);

    let r = server
        .client
        .post(&url)
        .json(&json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);

    let definition = |d: Value| ("deployment.json".to_string(), d.to_string().into_bytes());
    let wasm = std::fs::read(guests::ROWS).unwrap();
    let cases: Vec<(Files, u16, &str)> = vec![
        (
            vec![definition(
                json!({"name": "bad name", "model_file": "m.onnx"}),
            )],
            400,
            "name",
        ),
        (
            vec![definition(
                json!({"name": "a", "model_file": "m.onnx", "resources": {"limits": {"cores": "two"}}}),
            )],
            400,
            "resources",
        ),
        (
            vec![definition(json!({"name": "a", "model_file": "m.onnx"}))],
            400,
            "model_file",
        ),
        (
            vec![("predictor.wasm".into(), wasm.clone())],
            400,
            "deployment.json",
        ),
        (
            vec![
                definition(json!({"name": "a", "component_file": "p.wasm"})),
                ("p.wasm".into(), b"\0asm\x01\0\0\0".to_vec()),
            ],
            400,
            "core WebAssembly module",
        ),
        (
            vec![
                definition(json!({"name": "a", "component_file": "p.wasm"})),
                ("p.wasm".into(), b"\x7fELF\x02\x01".to_vec()),
            ],
            400,
            "precompiled",
        ),
        (
            vec![
                definition(json!({"name": "a", "component_file": "p.wasm"})),
                ("p.wasm".into(), wasm.clone()),
                ("../escape".into(), b"x".to_vec()),
            ],
            400,
            "stay inside",
        ),
        // A model that does not load: refused, nothing recorded.
        (
            vec![
                definition(json!({"name": "a", "model_file": "m.onnx"})),
                ("m.onnx".into(), b"not onnx".to_vec()),
            ],
            422,
            "m.onnx",
        ),
    ];
    for (files, want, says) in cases {
        let (status, body) = upload(&server, &files).await;
        assert_eq!(status, want, "{body}");
        assert!(
            body["error"].as_str().unwrap().contains(says),
            "{says}: {body}"
        );
    }

    // A truncated multipart body.
    let r = server
        .client
        .post(&url)
        .header("content-type", "multipart/form-data; boundary=XYZ")
        .body("--XYZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"deployment.json\"\r\n\r\n{\"na")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(
        r.json::<Value>().await.unwrap()["error"]
            .as_str()
            .unwrap()
            .contains("multipart")
    );

    let (_, list) = server.get("/api/deployments").await;
    assert_eq!(list["deployments"], json!([]), "nothing was stored");

    // A version that cannot start does not replace the one serving.
    let (status, _) = upload(&server, &onnx_upload("good")).await;
    assert_eq!(status, 201);
    let mut broken = onnx_upload("broken");
    broken.retain(|(p, _)| p != "model.onnx");
    broken.push(("model.onnx".into(), b"garbage".to_vec()));
    let (status, body) = upload(&server, &broken).await;
    assert_eq!(status, 422, "{body}");
    let (_, body) = server.get("/api/deployments/iris").await;
    assert_eq!(
        (body["version"].as_u64(), body["state"].as_str()),
        (Some(1), Some("Running")),
        "{body}"
    );
    assert_eq!(body["definition"]["description"], "good");
    assert_eq!(predict(&server, "iris").await, 200);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_upload_is_413() {
    let data = tempfile::tempdir().unwrap();
    let server = TestServer::start_options(ServeOptions {
        data_dir: data.path().to_path_buf(),
        max_body_bytes: 64 << 10,
        ..ServeOptions::default()
    })
    .await;
    let mut files = onnx_upload("big");
    files.push(("padding.bin".into(), vec![0u8; 256 << 10]));
    let (status, body) = upload(&server, &files).await;
    assert_eq!(status, 413, "{body}");
    server.stop().await;
}

/// Concurrent updates of one deployment apply one after the other, each complete; a delete
/// lets the request in flight finish.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_updates_and_a_delete_in_flight() {
    let data = tempfile::tempdir().unwrap();
    let server = server(data.path()).await;
    let uploads = (0..4).map(|i| {
        let server = &server;
        async move { upload(server, &onnx_upload(&format!("v{i}"))).await }
    });
    for (status, body) in futures_util::future::join_all(uploads).await {
        assert_eq!(status, 201, "{body}");
    }
    let (_, body) = server.get("/api/deployments/iris").await;
    assert_eq!(body["versions"].as_array().unwrap().len(), 4, "{body}");
    assert_eq!(body["version"], 4);
    assert_eq!(predict(&server, "iris").await, 200);

    let slow = vec![
        (
            "deployment.json".to_string(),
            json!({"name": "slow", "component_file": "p.wasm"})
                .to_string()
                .into_bytes(),
        ),
        ("p.wasm".to_string(), std::fs::read(guests::HOG).unwrap()),
    ];
    let (status, body) = upload(&server, &slow).await;
    assert_eq!(status, 201, "{body}");
    // An update while a request is in flight: it finishes on the version it started on.
    let slow_request = || {
        let client = server.client.clone();
        let url = format!("{}/v1/models/slow:predict", server.base);
        tokio::spawn(async move {
            client
                .post(url)
                .json(&json!({"instances": ["sleep", 500]}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        })
    };
    let during_update = slow_request();
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    let mut v2 = slow.clone();
    v2[0].1 = json!({"name": "slow", "component_file": "p.wasm", "description": "v2"})
        .to_string()
        .into_bytes();
    let (status, body) = upload(&server, &v2).await;
    assert_eq!((status, body["version"].as_u64()), (201, Some(2)), "{body}");
    assert_eq!(
        during_update.await.unwrap(),
        200,
        "not dropped by the update"
    );
    let in_flight = slow_request();
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    let r = server
        .client
        .delete(format!("{}/api/deployments/slow", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        in_flight.await.unwrap(),
        200,
        "the request in flight finished"
    );
    assert_eq!(predict(&server, "slow").await, 404);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_is_described_by_openapi() {
    let data = tempfile::tempdir().unwrap();
    let server = server(data.path()).await;
    let (status, doc) = server.get("/api/openapi.json").await;
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    for path in [
        "/api/deployments",
        "/api/deployments/{name}",
        "/api/deployments/{name}/{action}",
        "/api/deployments/{name}/logs",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} is described");
    }
    server.stop().await;
}

/// `serve --deploy DIR` goes through the store: the folder becomes a stored version, shown by
/// the management API, and the deployment comes back after a restart without the flag.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployed_folders_are_stored_versions() {
    let data = tempfile::tempdir().unwrap();
    let folder = predictor_tests::DeploymentDir::example("iris-onnx", None);
    let server = TestServer::start_options(ServeOptions {
        data_dir: data.path().to_path_buf(),
        deploy: vec![folder.path().to_path_buf()],
        ..ServeOptions::default()
    })
    .await;
    let (_, body) = server.get("/api/deployments/iris").await;
    assert_eq!(
        (body["state"].as_str(), body["version"].as_u64()),
        (Some("Running"), Some(1)),
        "{body}"
    );
    server.stop().await;

    // The same folder again: no new version. Then no flag at all: still served.
    let server = TestServer::start_options(ServeOptions {
        data_dir: data.path().to_path_buf(),
        deploy: vec![folder.path().to_path_buf()],
        ..ServeOptions::default()
    })
    .await;
    assert_eq!(
        server.get("/api/deployments/iris").await.1["versions"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    server.stop().await;
    let server = self::server(data.path()).await;
    assert_eq!(predict(&server, "iris").await, 200);
    server.stop().await;
}

/// Client mistakes the store used to answer with a 500 (or `text/plain`): each a 4xx with
/// `{"error"}` saying what is wrong.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_mistakes_are_4xx_with_a_reason() {
    let data = tempfile::tempdir().unwrap();
    let server = server(data.path()).await;
    let error_of = |body: &Value| body["error"].as_str().unwrap_or_default().to_string();

    // A path that is a file and a folder at once.
    let mut both = onnx_upload("both");
    both.push(("x".into(), b"file".to_vec()));
    both.push(("x/y".into(), b"inside".to_vec()));
    let (status, body) = upload(&server, &both).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        error_of(&body).contains("\"x\"") && error_of(&body).contains("\"x/y\""),
        "{body}"
    );
    // A file name longer than file systems take.
    let mut long = onnx_upload("long");
    long.push(("n".repeat(300), b"x".to_vec()));
    let (status, body) = upload(&server, &long).await;
    assert_eq!(status, 400, "{body}");
    assert!(error_of(&body).contains("255 bytes"), "{body}");
    // Too many files.
    let mut many = onnx_upload("many");
    many.extend((0..1_000).map(|i| (format!("f/{i}"), vec![b'x'])));
    let (status, body) = upload(&server, &many).await;
    assert_eq!(status, 400, "{body}");
    assert!(error_of(&body).contains("1000"), "{body}");
    let (_, list) = server.get("/api/deployments").await;
    assert_eq!(list["deployments"], json!([]), "nothing was stored");

    let (status, body) = upload(&server, &onnx_upload("one")).await;
    assert_eq!(status, 201, "{body}");
    // A rollback to a version it does not have: 404 naming it, the deployment unchanged.
    let (status, body) = server
        .post("/api/deployments/iris/rollback?version=7", &json!({}))
        .await;
    assert_eq!(status, 404, "{body}");
    assert!(error_of(&body).contains("version 7"), "{body}");
    assert_eq!(predict(&server, "iris").await, 200);

    // Names against the rule, before anything else.
    let long_name = "a".repeat(300);
    for path in [
        format!("/api/deployments/{long_name}"),
        "/api/deployments/iris%00".to_string(),
    ] {
        let (status, body) = server.get(&path).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert!(error_of(&body).contains("letters"), "{body}");
    }
    let (status, body) = server
        .post(&format!("/api/deployments/{long_name}/start"), &json!({}))
        .await;
    assert_eq!(status, 400, "{body}");

    // Query strings that do not parse: JSON errors too.
    for path in [
        "/api/deployments/iris/rollback?version=abc",
        "/api/deployments/iris/rollback?version=-1",
    ] {
        let (status, body) = server.post(path, &json!({})).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert!(error_of(&body).contains("query"), "{body}");
    }
    for path in [
        "/api/deployments/iris/logs?tail=-1",
        "/api/deployments/iris/logs?follow=maybe",
    ] {
        let (status, body) = server.get(path).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert!(error_of(&body).contains("query"), "{body}");
    }
    server.stop().await;
}

/// The `.run-*` staging folders of uploaded versions under `data_dir`'s store.
fn staging_folders(data_dir: &Path) -> usize {
    std::fs::read_dir(data_dir.join("store/live"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with(".run-")
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaced_and_deleted_versions_leave_no_staging_folders() {
    let data = tempfile::tempdir().unwrap();
    let server = server(data.path()).await;
    for i in 0..4 {
        let (status, body) = upload(&server, &onnx_upload(&format!("version {i}"))).await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(predict(&server, "iris").await, 200);
        // The serving version's folder only: the replaced ones are gone with their versions.
        assert_eq!(staging_folders(data.path()), 1, "after upload {i}");
    }
    let r = server
        .client
        .delete(format!("{}/api/deployments/iris", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(staging_folders(data.path()), 0);
    server.stop().await;
}
