//! Management calls do not wait for one another.

use super::cases::{Case, Expect};
use super::iris_predicts;
use super::wire::{Part, parse, slow_component};
use serde_json::json;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// Longest a management call of one deployment may take while another's upload is in
/// flight: generous (a shared 2-core box, the upload's compile on both cores), yet far
/// below what the upload holds its lock for.
const CALL_BOUND: Duration = Duration::from_secs(2);

/// Management calls do not wait for one another: while deployment `slow` is uploaded (its
/// body trickles in for ~3 s, then its component compiles for seconds under its name's
/// lock), `iris` is described, stopped, started and the list read, each at once.
///
/// With one lock for every mutation (as before issue 14), the stop and start of `iris`
/// issued while `slow` compiles would wait for that compile: each such call would take up to
/// the whole remaining compile, which the test makes longer than [`CALL_BOUND`] (and asserts
/// it did), so at least the first of them would break the bound. A lock taken before the
/// body is read (per request) would hold them for the trickle too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn management_calls_do_not_wait_for_another_deployments_upload() {
    // A data dir of its own: `slow` misses the compile cache on every run.
    let data = tempfile::tempdir().unwrap();
    let server = super::server_with_iris(data.path()).await;

    let parts = [
        Part::file(
            b"deployment.json",
            json!({"name": "slow", "component_file": "p.wasm"}).to_string(),
        ),
        Part::file(b"p.wasm", slow_component(5_000, 200)),
    ];
    let case = Case::new("slow", &parts, Expect::Refused);
    let addr = server.server.addr;
    let began = Instant::now();
    let upload = tokio::spawn(async move {
        let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let head = format!(
            "POST /api/deployments HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\ncontent-type: {}\r\ncontent-length: {}\r\n\r\n",
            String::from_utf8_lossy(&case.content_type),
            case.body.len()
        );
        tcp.write_all(head.as_bytes()).await.unwrap();
        for (i, slice) in case.body.chunks(case.body.len().div_ceil(12)).enumerate() {
            if i > 0 {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            tcp.write_all(slice).await.unwrap();
        }
        // The server has the whole body from here on: what follows is its work on it.
        let sent = Instant::now();
        let mut response = Vec::new();
        tcp.read_to_end(&mut response).await.unwrap();
        (parse(&response).map(|a| a.status), sent, Instant::now())
    });

    // (what, when it began, how long it took)
    let mut calls: Vec<(&str, Instant, Duration)> = Vec::new();
    while !upload.is_finished() {
        for (what, path) in [
            ("describe", "/api/deployments/iris"),
            ("stop", "/api/deployments/iris/stop"),
            ("start", "/api/deployments/iris/start"),
            ("list", "/api/deployments"),
        ] {
            let at = Instant::now();
            let (status, body) = if what == "stop" || what == "start" {
                server.post(path, &json!({})).await
            } else {
                server.get(path).await
            };
            assert_eq!(status, 200, "{what}: {body}");
            calls.push((what, at, at.elapsed()));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, sent, done) = upload.await.unwrap();
    assert_eq!(status, Some(422), "slow compiled, then could not start");
    let held = done - sent;
    eprintln!(
        "slow: body sent in {:?}, then {held:?} of the server's work on it; {} calls on iris, the slowest {:?}",
        sent - began,
        calls.len(),
        calls.iter().map(|c| c.2).max()
    );
    for (what, at, took) in &calls {
        assert!(
            *took < CALL_BOUND,
            "{what} at {:?} took {took:?}",
            *at - began
        );
    }
    assert!(
        held > CALL_BOUND,
        "the server worked on slow only {held:?}: make slow_component bigger, or a global lock would go unnoticed"
    );
    assert!(
        done - began > Duration::from_secs(5),
        "the upload took a while"
    );
    // Stops and starts issued while slow's lock was held, early enough that a global lock
    // would have held them past the bound.
    let exposed = |what: &str| {
        calls
            .iter()
            .filter(|(w, at, _)| *w == what && *at >= sent && *at + CALL_BOUND < done)
            .count()
    };
    assert!(
        exposed("stop") > 0 && exposed("start") > 0,
        "no stop and start while slow compiled (calls: {:?})",
        calls
            .iter()
            .map(|(w, at, _)| (*w, *at - began))
            .collect::<Vec<_>>()
    );
    assert!(iris_predicts(&server).await);
    server.stop().await;
}
