//! What an instance may take: a call past its deadline is stopped (504) at the next epoch
//! tick while the health endpoint and other deployments keep answering; requests past the
//! queue bound are refused at once (503, Retry-After); memory past the limit is its own
//! error; unbounded recursion is a trap. After each, the next request on the same
//! deployment succeeds on a fresh instance.

use predictor_runtime::Predictor;
use predictor_runtime::{ServeOptions, start};
use predictor_tests::{DeploymentDir, guests, resident_mib, shared_data_dir};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_millis(300);

async fn post(client: &reqwest::Client, url: &str, body: Value) -> (u16, Value, Duration) {
    let started = Instant::now();
    let r = client.post(url).json(&body).send().await.unwrap();
    let status = r.status().as_u16();
    let body = r.json().await.unwrap();
    (status, body, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_that_takes_too_much_is_stopped_and_the_rest_keep_serving() {
    let hog = DeploymentDir::new(&json!({
        "name": "hog", "component_file": "predictor.wasm",
        "resources": {"limits": {"cores": 1, "memory": 64}}
    }))
    .with_file("predictor.wasm", std::fs::read(guests::HOG).unwrap());
    let other = DeploymentDir::example("iris-onnx", None);
    let server = start(&ServeOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: shared_data_dir(),
        // A store of its own: no test restores another's deployments.
        store_dir: Some(predictor_tests::scratch_store()),
        deploy: vec![hog.path().to_path_buf(), other.path().to_path_buf()],
        max_body_bytes: 1 << 20,
        componentize_py: None,
        call_deadline: DEADLINE,
        max_queue: 2,
        max_output_bytes: 1 << 20,
        ..ServeOptions::default()
    })
    .await
    .unwrap();
    let base = format!("http://{}", server.addr);
    let client = reqwest::Client::new();
    let hog_url = format!("{base}/v1/models/hog:predict");
    let calls = |body: &Value| body["calls"].as_u64();

    let (status, body, _) = post(&client, &hog_url, json!({"instances": ["count"]})).await;
    assert_eq!((status, calls(&body)), (200, Some(1)), "{body}");
    let rss_before = resident_mib();

    // A guest spinning forever: answered 504 just past the deadline, while the health
    // endpoint and another deployment answer promptly.
    let spin = tokio::spawn({
        let (client, url) = (client.clone(), hog_url.clone());
        async move { post(&client, &url, json!({"instances": ["spin"]})).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = Instant::now();
    let live = client
        .get(format!("{base}/v2/health/live"))
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), 200);
    let (status, body, _) = post(
        &client,
        &format!("{base}/v1/models/iris:predict"),
        json!({"instances": [[5.1, 3.5, 1.4, 0.2]]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // They were answered while the guest still spun, not after it was stopped.
    assert!(
        !spin.is_finished(),
        "other requests waited {:?}, until the spinning guest was stopped",
        started.elapsed()
    );
    // The instance is busy: two requests may wait for it (max_queue 2), a third is refused
    // at once with Retry-After, and the waiting ones are served once the spin is stopped.
    let queued: Vec<_> = (0..2)
        .map(|_| {
            let (client, url) = (client.clone(), hog_url.clone());
            tokio::spawn(async move { post(&client, &url, json!({"instances": ["count"]})).await })
        })
        .collect();
    let waiting = || {
        let deployment = server.registry.get("hog").unwrap();
        let Ok(Predictor::Component(c)) = deployment.predictor() else {
            panic!("hog is a running component")
        };
        c.pool().metrics.queue_depth.get()
    };
    while waiting() < 2 {
        assert!(!spin.is_finished(), "the queued requests never waited");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let started = Instant::now();
    let refused = client
        .post(&hog_url)
        .json(&json!({"instances": ["count"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "1");
    let body: Value = refused.json().await.unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(100),
        "{:?}",
        started.elapsed()
    );
    assert!(
        body["error"].as_str().unwrap().contains(
            "the predictor is overloaded: all 1 instance(s) are busy and 2 requests are waiting"
        ),
        "{body}"
    );
    assert_eq!(body["kind"], "overloaded", "{body}");
    let (status, body, took) = spin.await.unwrap();
    assert_eq!(status, 504, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("the predictor did not answer within 300 ms"),
        "{body}"
    );
    assert_eq!(body["kind"], "timeout", "{body}");
    assert!(
        took >= DEADLINE && took < DEADLINE + Duration::from_millis(300),
        "{took:?}"
    );
    for q in queued {
        let (status, body, _) = q.await.unwrap();
        assert_eq!(status, 200, "{body}");
    }

    // Memory past the limit: its own error, not a generic trap.
    let (status, body, _) = post(&client, &hog_url, json!({"instances": ["alloc"]})).await;
    assert_eq!(status, 500, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("memory limit of 64 MiB exceeded"),
        "{body}"
    );
    assert_eq!(body["kind"], "memory_limit", "{body}");

    // Unbounded recursion: a trap (stack exhausted), not a process abort.
    let (status, body, _) = post(&client, &hog_url, json!({"instances": ["recurse"]})).await;
    assert_eq!(status, 500, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("trapped"),
        "{body}"
    );
    assert_eq!(body["kind"], "guest_trapped", "{body}");

    // An answer larger than a call may carry (4 MiB against a 1 MiB bound): refused, and
    // the instance that grew to build it is dropped.
    let (status, body, _) = post(&client, &hog_url, json!({"instances": ["output", 4]})).await;
    assert_eq!(status, 500, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("the predictor returned 4194306 bytes, more than the limit of 1048576 bytes"),
        "{body}"
    );
    assert_eq!(body["kind"], "malformed_output", "{body}");

    // Each time the instance was discarded: the next request is served by a fresh one.
    let (status, body, _) = post(&client, &hog_url, json!({"instances": ["count"]})).await;
    assert_eq!((status, calls(&body)), (200, Some(1)), "{body}");
    let deployment = server.registry.get("hog").unwrap();
    let Ok(predictor_runtime::Predictor::Component(c)) = deployment.predictor() else {
        panic!("hog is a running component")
    };
    assert_eq!(c.pool().metrics.instances_stopped.get(), 4);
    assert_eq!(c.pool().metrics.instances.get(), 1);
    // What the hostile guests took (a 64 MiB heap, a 4 MiB answer and its copies) went back:
    // stopped instances' memories are decommitted, refused answers freed.
    let rss_after = resident_mib();
    assert!(
        rss_after < rss_before + 24.0,
        "resident memory grew from {rss_before:.1} to {rss_after:.1} MiB"
    );

    // The operator sees each limit hit, by limit, on /metrics.
    let metrics = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for limit in ["deadline", "memory", "stack", "output", "queue"] {
        let series = format!(
            "predictor_limit_hits_total{{deployment=\"hog\",component=\"predictor\",limit=\"{limit}\"}} 1"
        );
        assert!(metrics.contains(&series), "{series} not in:\n{metrics}");
    }
    server.stop().await.unwrap();
}
