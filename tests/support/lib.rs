//! Support for the integration tests: paths of the guest components built by `build.rs`,
//! deployment folders assembled in temp dirs, a server on a real socket, HTTP helpers, and a
//! Kafka-protocol broker with an external consumer ([`broker`]).

use predictor_runtime::Deployment;
use predictor_runtime::{RunningServer, ServeOptions, start};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub mod broker;

/// Paths of the guest components, built from source by `build.rs`.
pub mod guests {
    include!(concat!(env!("OUT_DIR"), "/guests.rs"));
}

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A file made by `examples/models/make_models.py` (run by `scripts/setup.sh`).
pub fn generated(path: &str) -> PathBuf {
    let p = root().join(path);
    assert!(
        p.exists(),
        "{} is missing: run scripts/setup.sh (it trains and exports the example models)",
        p.display()
    );
    p
}

/// Reference predictions computed by scikit-learn when the models were made.
pub fn reference() -> Value {
    serde_json::from_slice(
        &std::fs::read(generated("target/example-models/reference.json")).unwrap(),
    )
    .unwrap()
}

/// A deployment folder in a temp dir.
pub struct DeploymentDir {
    pub dir: tempfile::TempDir,
}

impl DeploymentDir {
    /// An empty folder with `deployment.json`.
    pub fn new(definition: &Value) -> DeploymentDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("deployment.json"),
            serde_json::to_vec_pretty(definition).unwrap(),
        )
        .unwrap();
        DeploymentDir { dir }
    }

    /// A copy of `examples/NAME` (its committed and generated files), with `component` as
    /// its `predictor.wasm` when given.
    pub fn example(name: &str, component: Option<&str>) -> DeploymentDir {
        let dir = tempfile::tempdir().unwrap();
        let src = root().join("examples").join(name);
        for entry in std::fs::read_dir(&src).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_file() && entry.file_name() != "predictor.wasm" {
                std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
            }
        }
        if let Some(c) = component {
            std::fs::copy(c, dir.path().join("predictor.wasm")).unwrap();
        }
        DeploymentDir { dir }
    }

    /// Adds a file.
    pub fn with_file(self, name: &str, bytes: impl AsRef<[u8]>) -> Self {
        std::fs::write(self.dir.path().join(name), bytes).unwrap();
        self
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// The compile cache shared by every test (so most starts are cache hits, as in production).
pub fn shared_data_dir() -> PathBuf {
    root().join("target/test-data")
}

/// A fresh store folder for a server started on the shared data dir (under `target/tmp`,
/// swept with it): deployments stored by one test are never restored by another.
pub fn scratch_store() -> PathBuf {
    let dir = root().join("target/tmp/stores");
    std::fs::create_dir_all(&dir).unwrap();
    tempfile::tempdir_in(dir).unwrap().keep()
}

/// A server on 127.0.0.1 (a real socket) serving `dirs`.
pub struct TestServer {
    pub server: RunningServer,
    pub base: String,
    pub client: reqwest::Client,
    /// The store of a server on the shared data dir, removed with it.
    _store: Option<tempfile::TempDir>,
}

impl TestServer {
    pub async fn start(dirs: &[&DeploymentDir]) -> TestServer {
        Self::start_with(
            dirs,
            shared_data_dir(),
            predictor_runtime::DEFAULT_MAX_BODY_BYTES,
        )
        .await
    }

    pub async fn start_with(
        dirs: &[&DeploymentDir],
        data_dir: PathBuf,
        max_body_bytes: usize,
    ) -> TestServer {
        Self::start_options(ServeOptions {
            data_dir,
            deploy: dirs.iter().map(|d| d.path().to_path_buf()).collect(),
            max_body_bytes,
            ..ServeOptions::default()
        })
        .await
    }

    /// A server with `options`, listening on a free loopback port. On the shared data dir
    /// (shared for its compile cache), the store is one of its own, so no test sees
    /// another's deployments.
    pub async fn start_options(options: ServeOptions) -> TestServer {
        let store = (options.store_dir.is_none() && options.data_dir == shared_data_dir())
            .then(|| tempfile::tempdir().unwrap());
        let options = ServeOptions {
            listen: "127.0.0.1:0".parse().unwrap(),
            store_dir: store
                .as_ref()
                .map(|d| d.path().to_path_buf())
                .or(options.store_dir),
            ..options
        };
        let server = start(&options).await.expect("server starts");
        let base = format!("http://{}", server.addr);
        TestServer {
            server,
            base,
            client: reqwest::Client::new(),
            _store: store,
        }
    }

    pub fn deployment(&self, name: &str) -> Arc<Deployment> {
        self.server.registry.get(name).expect("deployment exists")
    }

    /// GET `path`: status and JSON body.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        status_json(r).await
    }

    /// POST `body` (JSON) to `path`: status and JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.post_raw(path, body.to_string()).await
    }

    /// POST raw bytes to `path`.
    pub async fn post_raw(&self, path: &str, body: impl Into<reqwest::Body>) -> (u16, Value) {
        let r = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        status_json(r).await
    }

    /// V1 `:predict` of the reference instances (made with the models) on `model`; asserts
    /// a 200 and returns the body.
    pub async fn predict_reference(&self, model: &str) -> Value {
        let request = serde_json::json!({"instances": reference()["instances"]});
        let (status, body) = self
            .post(&format!("/v1/models/{model}:predict"), &request)
            .await;
        assert_eq!(status, 200, "{model}: {body}");
        body
    }

    /// The value of one series on `/metrics` (0 when absent), checking the exposition's
    /// content type.
    pub async fn metric(&self, series: &str) -> f64 {
        let response = self
            .client
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/openmetrics-text"),
        );
        let text = response.text().await.unwrap();
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
            .map_or(0.0, |v| v.parse().unwrap())
    }

    /// Waits until `series` reads `value` (polled every 50 ms); fails the test with `what`
    /// if it does not within `within`.
    pub async fn wait_for_metric(
        &self,
        series: &str,
        value: f64,
        within: std::time::Duration,
        what: &str,
    ) {
        let started = std::time::Instant::now();
        while self.metric(series).await != value {
            assert!(started.elapsed() < within, "{what}");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    pub async fn stop(self) {
        self.server.stop().await.unwrap();
    }
}

async fn status_json(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let content_type = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string());
    let bytes = r.bytes().await.unwrap();
    let body = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        panic!("status {status}, {content_type:?}: body is not JSON ({e}): {bytes:?}")
    });
    (status, body)
}

/// `key` of every object in the array `rows` (a column of V1 row-format predictions).
pub fn column(rows: &Value, key: &str) -> Value {
    let rows = rows
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {rows}"));
    Value::Array(rows.iter().map(|row| row[key].clone()).collect())
}

/// Asserts `actual` (a JSON array of numbers) equals `expected` within `tolerance`.
pub fn assert_close(actual: &Value, expected: &Value, tolerance: f64) {
    let a: Vec<f64> = flatten(actual);
    let e: Vec<f64> = flatten(expected);
    assert_eq!(a.len(), e.len(), "{actual} vs {expected}");
    for (x, y) in a.iter().zip(&e) {
        assert!((x - y).abs() <= tolerance, "{actual} vs {expected}");
    }
}

fn flatten(v: &Value) -> Vec<f64> {
    match v {
        Value::Array(items) => items.iter().flat_map(flatten).collect(),
        Value::Number(n) => vec![n.as_f64().unwrap()],
        other => panic!("not a number: {other}"),
    }
}

/// This process's resident memory, in MiB: the server of an in-process test runs in it.
pub fn resident_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    let kib: f64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib / 1024.0
}
