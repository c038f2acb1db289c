//! What an instance may take: a call past its deadline is stopped (504) at the next epoch
//! tick while the health endpoint and other deployments keep answering; memory past the
//! limit is its own error; unbounded recursion is a trap. After each, the next request on
//! the same deployment succeeds on a fresh instance.

use predictor_runtime::server::{ServeOptions, start};
use predictor_tests::{DeploymentDir, guests, shared_data_dir};
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
        deploy: vec![hog.path().to_path_buf(), other.path().to_path_buf()],
        max_body_bytes: 1 << 20,
        componentize_py: None,
        call_deadline: DEADLINE,
    })
    .await
    .unwrap();
    let base = format!("http://{}", server.addr);
    let client = reqwest::Client::new();
    let hog_url = format!("{base}/v1/models/hog:predict");
    let calls = |body: &Value| body["calls"].as_u64();

    let (status, body, _) = post(&client, &hog_url, json!({"instances": ["count"]})).await;
    assert_eq!((status, calls(&body)), (200, Some(1)), "{body}");

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
    assert!(
        started.elapsed() < Duration::from_millis(150),
        "other requests waited {:?} behind a spinning guest",
        started.elapsed()
    );
    let (status, body, took) = spin.await.unwrap();
    assert_eq!(status, 504, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("the predictor did not answer within 300 ms"),
        "{body}"
    );
    assert!(
        took >= DEADLINE && took < DEADLINE + Duration::from_millis(200),
        "{took:?}"
    );

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

    // Unbounded recursion: a trap (stack exhausted), not a process abort.
    let (status, body, _) = post(&client, &hog_url, json!({"instances": ["recurse"]})).await;
    assert_eq!(status, 500, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("trapped"),
        "{body}"
    );

    // Each time the instance was discarded: the next request is served by a fresh one.
    let (status, body, _) = post(&client, &hog_url, json!({"instances": ["count"]})).await;
    assert_eq!((status, calls(&body)), (200, Some(1)), "{body}");
    let deployment = server.registry.get("hog").unwrap();
    let Ok(predictor_runtime::predictor::Predictor::Component(c)) = deployment.predictor() else {
        panic!("hog is a running component")
    };
    let stats = &c.pool().stats;
    assert_eq!(
        stats.discarded.load(std::sync::atomic::Ordering::Relaxed),
        3
    );
    server.stop().await.unwrap();
}
