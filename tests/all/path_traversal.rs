//! No management call and no record on disk reaches outside the store: hostile
//! `{name}`s on every `/api/deployments/{name}` route are 4xx `{"error"}` and touch nothing;
//! crafted records (an escaping file path, a digest that is a path, a name that is not their
//! file's) are skipped at start while the other deployments run. A sentinel folder beside
//! the store is listed before and after: unchanged, and none of its files gained a link.

use predictor_runtime::ServeOptions;
use predictor_tests::{TestServer, root};
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt as _;
use std::path::Path;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

async fn server(data_dir: &Path) -> TestServer {
    TestServer::start_options(ServeOptions {
        data_dir: data_dir.to_path_buf(),
        ..ServeOptions::default()
    })
    .await
}

/// A folder beside the store holding what an escaping call would hit: `victim.json` and
/// `victim/` (the record and live folder of the name `../../sentinel/victim`), a file to
/// link to (`secret`).
fn sentinel(data: &Path) -> std::path::PathBuf {
    let dir = data.join("sentinel");
    std::fs::create_dir_all(dir.join("victim")).unwrap();
    std::fs::write(dir.join("victim/keep.txt"), "keep").unwrap();
    std::fs::write(
        dir.join("victim.json"),
        json!({"name": "victim", "desired": "Running", "current": 1, "versions": [
            {"version": 1, "created_ms": 0, "files": {}}]})
        .to_string(),
    )
    .unwrap();
    std::fs::write(dir.join("secret"), "secret").unwrap();
    dir
}

/// Every entry under `dir`: contents (files) and link count.
fn listing(dir: &Path) -> BTreeMap<String, (Vec<u8>, u64)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let relative = path.strip_prefix(dir).unwrap().display().to_string();
            if meta.is_dir() {
                stack.push(path);
                out.insert(relative, (Vec::new(), 0));
            } else {
                out.insert(relative, (std::fs::read(&path).unwrap(), meta.nlink()));
            }
        }
    }
    out
}

/// One request with `path` sent exactly as written (an HTTP client would normalize `..`
/// and `%2e%2e` away): status and JSON body.
async fn raw(server: &TestServer, method: &str, path: &str) -> (u16, Value) {
    let mut tcp = tokio::net::TcpStream::connect(server.server.addr)
        .await
        .unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nhost: localhost\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    tcp.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    let json = serde_json::from_str(&body)
        .unwrap_or_else(|e| panic!("{method} {path}: {status}, not JSON ({e}): {body:?}"));
    (status, json)
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap();
        if size == 0 {
            break;
        }
        out.push_str(&rest[..size]);
        body = &rest[size + 2..];
    }
    out
}

/// The iris ONNX example as an upload, with `extra` files.
async fn upload_iris(server: &TestServer, extra: &[(&str, Vec<u8>)]) -> (u16, Value) {
    let example = root().join("examples/iris-onnx");
    let mut form = Form::new();
    for name in ["deployment.json", "model.onnx"] {
        let bytes = std::fs::read(example.join(name)).unwrap();
        form = form.part("file", Part::bytes(bytes).file_name(name));
    }
    for (name, bytes) in extra {
        form = form.part(
            "file",
            Part::bytes(bytes.clone()).file_name(name.to_string()),
        );
    }
    let r = server
        .client
        .post(format!("{}/api/deployments", server.base))
        .multipart(form)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn iris_predicts(server: &TestServer) -> bool {
    let (status, _) = server
        .post(
            "/v1/models/iris:predict",
            &json!({"instances": [[5.1, 3.5, 1.4, 0.2]]}),
        )
        .await;
    status == 200
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_names_on_every_route_touch_nothing() {
    let data = tempfile::tempdir().unwrap();
    let sentinel = sentinel(data.path());
    let server = server(data.path()).await;
    // A crafted record uploaded as an extra file: once materialized (the restart below) it
    // sits at live/iris/v1/evil.json, where an unchecked name could make the store read it.
    let evil = json!({"name": "evil", "desired": "Running", "current": 1, "versions": [
        {"version": 1, "created_ms": 0,
         "files": {"../../../../../../sentinel/pwned": "../../sentinel/secret"}}]});
    let (status, body) = upload_iris(&server, &[("evil.json", evil.to_string().into())]).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = raw(&server, "POST", "/api/deployments/iris/restart").await;
    assert_eq!(status, 200, "{body}");
    let before = listing(&sentinel);

    let long = "a".repeat(300);
    let names = [
        "..%2F..%2Fsentinel%2Fvictim",
        "%2E%2E%2F%2E%2E%2Fsentinel%2Fvictim",
        "..%5C..%5Csentinel%5Cvictim",
        "..%2Fdeployments%2Firis",
        "..%2Flive%2Firis%2Fv1%2Fevil",
        "..",
        "%2e%2e",
        ".",
        "%00",
        "iris%00",
        "%2F",
        "%FF",
        "iris.json",
        &long,
    ];
    let routes: [(&str, &str); 7] = [
        ("GET", ""),
        ("DELETE", ""),
        ("POST", "/start"),
        ("POST", "/stop"),
        ("POST", "/restart"),
        ("POST", "/rollback?version=1"),
        ("GET", "/logs"),
    ];
    for name in names {
        for (method, suffix) in routes {
            let path = format!("/api/deployments/{name}{suffix}");
            let (status, body) = raw(&server, method, &path).await;
            assert!(
                (400..500).contains(&status) && body["error"].is_string(),
                "{method} {path}: {status} {body}"
            );
            let error = body["error"].as_str().unwrap();
            assert!(
                !error.contains(data.path().to_str().unwrap()),
                "{method} {path}: a server path in {error:?}"
            );
        }
    }
    // The rule is said, for a name that is merely long.
    let (status, body) = raw(&server, "GET", &format!("/api/deployments/{long}")).await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("1-63"), "{body}");

    assert_eq!(
        listing(&sentinel),
        before,
        "nothing beside the store changed"
    );
    assert!(!sentinel.join("pwned").exists());
    let (status, list) = raw(&server, "GET", "/api/deployments").await;
    assert_eq!(status, 200);
    assert_eq!(list["deployments"].as_array().unwrap().len(), 1, "{list}");
    assert!(iris_predicts(&server).await, "iris still serves");
    server.stop().await;
}

/// Records placed in the store by hand (or by an attacker who can write there): each that
/// does not read back whole is skipped at start, the others run, nothing outside is made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crafted_records_are_skipped_and_reach_nothing() {
    let data = tempfile::tempdir().unwrap();
    let sentinel = sentinel(data.path());
    let server = server(data.path()).await;
    let (status, body) = upload_iris(&server, &[]).await;
    assert_eq!(status, 201, "{body}");
    server.stop().await;

    let records = data.path().join("store/deployments");
    let iris: Value =
        serde_json::from_slice(&std::fs::read(records.join("iris.json")).unwrap()).unwrap();
    let files = &iris["versions"][0]["files"];
    let definition = files["deployment.json"].as_str().unwrap().to_string();
    let crafted = |name: &str, files: Value| {
        json!({"name": name, "desired": "Running", "current": 1,
               "versions": [{"version": 1, "created_ms": 0, "files": files}]})
        .to_string()
    };
    let cases = [
        // A file path out of live/<name>/v1/ into the sentinel.
        (
            "escape",
            crafted(
                "escape",
                json!({"deployment.json": definition, "../../../../sentinel/pwned": definition}),
            ),
        ),
        // A digest that is a path: the sentinel's file linked into the store.
        (
            "digest",
            crafted(
                "digest",
                json!({"deployment.json": "../../sentinel/secret"}),
            ),
        ),
        // A name that is not its file's: live/../../sentinel/victim/v1 if trusted.
        (
            "mismatch",
            crafted(
                "../../sentinel/victim",
                json!({"deployment.json": definition}),
            ),
        ),
        // Its current version is not one it has.
        (
            "current",
            json!({"name": "current", "desired": "Running", "current": 9, "versions": []})
                .to_string(),
        ),
    ];
    for (file, text) in &cases {
        std::fs::write(records.join(format!("{file}.json")), text).unwrap();
    }
    let before = listing(&sentinel);

    let server = self::server(data.path()).await;
    assert!(iris_predicts(&server).await, "the good deployment runs");
    let (_, list) = server.get("/api/deployments").await;
    let names: Vec<&str> = list["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["iris"], "{list}");
    // Asked for by name: an error without the store's paths.
    let (status, body) = server.get("/api/deployments/escape").await;
    assert!(status >= 400, "{body}");
    assert!(
        !body["error"]
            .as_str()
            .unwrap()
            .contains(data.path().to_str().unwrap()),
        "{body}"
    );
    assert_eq!(
        listing(&sentinel),
        before,
        "nothing beside the store changed"
    );
    assert!(!sentinel.join("pwned").exists());
    assert_eq!(
        std::fs::metadata(sentinel.join("secret")).unwrap().nlink(),
        1,
        "the sentinel's file was not linked into the store"
    );
    server.stop().await;
}
