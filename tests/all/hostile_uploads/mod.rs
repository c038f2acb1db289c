//! The upload route against hostile clients ([`cases`]: a few hundred multipart bodies
//! generated from a fixed seed, sent as raw bytes by [`wire`], since an HTTP client only
//! sends well-formed ones). Every answer is a 4xx with `{"error"}` (or a 201 for the
//! uploads that are valid), never a 5xx or a hang; no failed upload leaves a staging folder
//! or a temporary file in the store; afterwards the server still predicts and a sentinel
//! folder beside the store is unchanged. A client that leaves mid-upload leaves nothing
//! half-done, and management calls do not wait for one another ([`concurrent`]).

mod cases;
mod concurrent;
mod rng;
mod wire;

use cases::{Case, Delivery, Expect, Iris, Rng};
use predictor_runtime::ConnectionLimits;
use predictor_runtime::ServeOptions;
use predictor_tests::{TestServer, scratch_store, shared_data_dir};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt as _;
use wire::{Answer, Part, send, slow_component};

/// Changing it changes every case; a failure names the case's number under this seed.
const SEED: u64 = 0x1414_0b0d_ca5e_5eed;
/// Generated cases (plus the fixed ones).
const CASES: usize = 320;
/// Longest a refused upload may take to be answered: past it, a hang.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(15);
/// The body read limit of the suite's server: a stalled body is answered past it.
const BODY_READ_TIMEOUT: Duration = Duration::from_secs(1);
/// The body limit of the suite's server (well above every generated body).
const MAX_BODY_BYTES: usize = 8 << 20;

/// Every staging folder (`.run-*`) and temporary file (`.tmp*`) in the store, by path.
fn leftovers(store: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![store.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().to_string();
            let path = entry.path();
            if name.starts_with(".run-") || name.starts_with(".tmp") {
                out.insert(path.strip_prefix(store).unwrap().display().to_string());
            } else if entry.file_type().unwrap().is_dir() {
                stack.push(path);
            }
        }
    }
    out
}

/// Every entry under `dir` with its contents (files).
fn listing(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            let relative = path.strip_prefix(dir).unwrap().display().to_string();
            if std::fs::symlink_metadata(&path).unwrap().is_dir() {
                stack.push(path);
                out.insert(relative, Vec::new());
            } else {
                out.insert(relative, std::fs::read(&path).unwrap());
            }
        }
    }
    out
}

/// A folder of a scratch dir beside the store, holding what an escaping write would hit.
fn sentinel(base: &Path) -> PathBuf {
    let dir = base.join("sentinel");
    std::fs::create_dir_all(dir.join("victim")).unwrap();
    std::fs::write(dir.join("victim/keep.txt"), "keep").unwrap();
    std::fs::write(dir.join("secret"), "secret").unwrap();
    dir
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

/// Whether a stored path stays inside its deployment.
fn stays_inside(path: &str) -> bool {
    !path.starts_with('/')
        && !path.contains('\\')
        && !path.chars().any(char::is_control)
        && path.split('/').all(|c| !matches!(c, "" | "." | ".."))
}

/// Checks one answer against what `case` expects; the failure, if any.
async fn judge(
    server: &TestServer,
    case: &Case,
    answer: Option<Answer>,
    store: &Path,
) -> Result<(), String> {
    let Some(answer) = answer else {
        // Only a client that gave up sending may be left without an answer.
        return match case.delivery {
            Delivery::HalfClosed(_) => Ok(()),
            _ => Err("closed without an answer".into()),
        };
    };
    let text = String::from_utf8_lossy(&answer.body).to_string();
    match answer.status {
        400..=499 if case.expect != Expect::Created => {
            let body: Value = serde_json::from_slice(&answer.body)
                .map_err(|e| format!("{}: the body is not JSON ({e}): {text:?}", answer.status))?;
            let error = body["error"]
                .as_str()
                .ok_or(format!("{}: no error: {text}", answer.status))?;
            if !answer.content_type.starts_with("application/json") {
                return Err(format!("{}: {:?}", answer.status, answer.content_type));
            }
            if error.contains(store.to_str().unwrap()) {
                return Err(format!("a server path in {error:?}"));
            }
            Ok(())
        }
        201 if case.expect != Expect::Refused => {
            let body: Value =
                serde_json::from_slice(&answer.body).map_err(|e| format!("201: {e}: {text}"))?;
            let name = body["name"]
                .as_str()
                .ok_or(format!("201 without a name: {text}"))?;
            let (_, described) = server.get(&format!("/api/deployments/{name}")).await;
            for version in described["versions"].as_array().into_iter().flatten() {
                for path in version["files"].as_array().into_iter().flatten() {
                    let path = path.as_str().unwrap_or_default();
                    if !stays_inside(path) {
                        return Err(format!("stored the path {path:?}"));
                    }
                }
            }
            Ok(())
        }
        status => Err(format!(
            "{status} (expected {:?}): {text:.300}",
            case.expect
        )),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_hostile_uploads_are_refused_and_leave_nothing() {
    let base = scratch_store();
    let store = base.join("store");
    let sentinel = sentinel(&base);
    let server = TestServer::start_options(ServeOptions {
        data_dir: shared_data_dir(),
        store_dir: Some(store.clone()),
        max_body_bytes: MAX_BODY_BYTES,
        connections: ConnectionLimits {
            body_read_timeout: BODY_READ_TIMEOUT,
            ..ConnectionLimits::default()
        },
        ..ServeOptions::default()
    })
    .await;
    let iris = Iris::load();
    let first = send(
        server.server.addr,
        &Case::new("iris", &iris.parts("iris"), Expect::Created),
    )
    .await;
    assert_eq!(
        first.as_ref().map(|a| a.status),
        Some(201),
        "the valid upload"
    );
    assert!(iris_predicts(&server).await);
    let sentinel_before = listing(&sentinel);

    let mut rng = Rng(SEED);
    let mut cases: Vec<Case> = (0..CASES)
        .map(|_| cases::generate(&mut rng, &iris))
        .collect();
    // Bodies that never arrive whole: stalled (answered when the body read times out) and
    // half-closed at random offsets.
    for n in [0, 100] {
        cases.push(Case {
            delivery: Delivery::Stalled(n),
            ..Case::new(
                format!("stalled after {n} bytes"),
                &iris.parts("iris"),
                Expect::Refused,
            )
        });
    }
    for _ in 0..20 {
        let mut case = Case::new("", &iris.parts("iris"), Expect::Refused);
        let n = rng.below(case.body.len());
        case.what = format!("half-closed after {n} bytes");
        case.delivery = Delivery::HalfClosed(n);
        cases.push(case);
    }

    let started = Instant::now();
    let mut failures = Vec::new();
    let mut created = 0;
    for (i, case) in cases.iter().enumerate() {
        let before = leftovers(&store);
        let answer = tokio::time::timeout(ANSWER_TIMEOUT, send(server.server.addr, case)).await;
        let status = answer
            .as_ref()
            .ok()
            .and_then(|a| a.as_ref().map(|a| a.status));
        let verdict = match answer {
            Err(_) => Err(format!("no answer within {ANSWER_TIMEOUT:?}")),
            Ok(answer) => judge(&server, case, answer, &store).await,
        };
        let after = leftovers(&store);
        let verdict = verdict.and_then(|()| {
            // A version that started keeps its staging folder (it serves from it); nothing
            // else may stay.
            let new: Vec<_> = after.difference(&before).collect();
            let ok = match status {
                Some(201) => new.iter().all(|p| {
                    p.starts_with("live/.run-iris-") || p.starts_with("live/.run-hostile-")
                }),
                _ => new.is_empty(),
            };
            if ok {
                Ok(())
            } else {
                Err(format!("left {new:?} in the store"))
            }
        });
        if status == Some(201) {
            created += 1;
        }
        if let Err(e) = verdict {
            failures.push(format!("case {i} ({}): {e}", case.what));
        }
        if i % 50 == 49 && !iris_predicts(&server).await {
            failures.push(format!("after case {i}: iris no longer predicts"));
        }
    }
    let took = started.elapsed();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed (seed {SEED:#x}):\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    eprintln!(
        "{} hostile uploads in {took:?}, {created} valid ones created",
        cases.len()
    );

    assert!(iris_predicts(&server).await, "the server still serves");
    let (status, list) = server.get("/api/deployments").await;
    assert_eq!(status, 200);
    assert_eq!(
        list["deployments"].as_array().unwrap().len(),
        1,
        "only iris: {list}"
    );
    assert_eq!(
        listing(&sentinel),
        sentinel_before,
        "nothing beside the store changed"
    );
    let beside: BTreeSet<String> = std::fs::read_dir(&base)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    assert_eq!(beside, BTreeSet::from(["sentinel".into(), "store".into()]));
    server.stop().await;
    std::fs::remove_dir_all(&base).unwrap();
}

/// A client that sends a whole upload and leaves before the answer: the upload is finished
/// or undone all the same (a version that cannot start leaves no staging folder, and the
/// deployment serving is not left `Updating`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_whose_client_leaves_is_finished_or_undone() {
    let data = tempfile::tempdir().unwrap();
    let store = data.path().join("store");
    let server = server_with_iris(data.path()).await;
    let before = leftovers(&store);

    // A new version of iris that compiles for a while, then cannot start.
    let parts = [
        Part::file(
            b"deployment.json",
            json!({"name": "iris", "component_file": "p.wasm"}).to_string(),
        ),
        Part::file(b"p.wasm", slow_component(2_000, 200)),
    ];
    let case = Case::new("", &parts, Expect::Refused);
    let mut tcp = tokio::net::TcpStream::connect(server.server.addr)
        .await
        .unwrap();
    let head = format!(
        "POST /api/deployments HTTP/1.1\r\nhost: localhost\r\ncontent-type: {}\r\ncontent-length: {}\r\n\r\n",
        String::from_utf8_lossy(&case.content_type),
        case.body.len()
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    tcp.write_all(&case.body).await.unwrap();
    // Until the server is at work on it (Updating), then gone.
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.get("/api/deployments/iris").await.1["state"] != "Updating" {
        assert!(Instant::now() < deadline, "the upload never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(tcp);

    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, iris) = server.get("/api/deployments/iris").await;
        if iris["state"] == "Running" {
            assert_eq!(iris["version"], 1, "{iris}");
            break;
        }
        assert!(Instant::now() < deadline, "left {}: {iris}", iris["state"]);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        leftovers(&store),
        before,
        "the failed version's staging folder is gone"
    );
    assert!(iris_predicts(&server).await);
    server.stop().await;
}

/// A server on a data dir of its own (no compile cache: uploads compile from scratch) with
/// `iris` uploaded and serving.
async fn server_with_iris(data_dir: &Path) -> TestServer {
    let server = TestServer::start_options(ServeOptions {
        data_dir: data_dir.to_path_buf(),
        ..ServeOptions::default()
    })
    .await;
    let iris = Iris::load();
    let created = send(
        server.server.addr,
        &Case::new("iris", &iris.parts("iris"), Expect::Created),
    )
    .await;
    assert_eq!(created.map(|a| a.status), Some(201));
    server
}
