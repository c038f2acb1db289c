//! A linear memory never shrinks, so an instance kept warm after one large request would keep
//! what that request took for good. An instance whose memory outgrew its usual size (the
//! size `init` left) is recycled after its call: the answer is unchanged, the next request
//! gets a fresh instance, the memory goes back to the OS and the operator sees it counted.
//! Small requests keep reusing their warm instance.

use predictor_runtime::Predictor;
use predictor_tests::{DeploymentDir, TestServer, guests, resident_mib};
use serde_json::{Value, json};
use std::time::Duration;

const PATH: &str = "/v1/models/hog:predict";
/// Numbers in each large request: 2 bytes each of its body (6 MiB), 16 bytes each once the
/// guest parsed them, so the guest grows by several times what the host holds.
const LARGE_NUMBERS: usize = 3 << 20;
const LARGE_REQUESTS: u64 = 5;
/// What resident memory may keep after the large requests: far less than one grown
/// instance holds (over 100 MiB), room for what the host's allocator keeps of its buffers.
const RESIDENT_BOUND_MIB: f64 = 48.0;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_grown_by_a_large_request_is_recycled_and_its_memory_given_back() {
    let dir = DeploymentDir::new(&json!({
        "name": "hog", "component_file": "predictor.wasm",
        "resources": {"limits": {"cores": 1, "memory": 512}},
        "scaling_configuration": {"min_instances": 1, "max_instances": 1}
    }))
    .with_file("predictor.wasm", std::fs::read(guests::HOG).unwrap());
    let server = TestServer::start(&[&dir]).await;
    let calls = |body: &Value| body["calls"].as_u64();
    let small = json!({"instances": ["count"]});

    // Small requests reuse the warm instance.
    for expected in 1..=2 {
        let (status, body) = server.post(PATH, &small).await;
        assert_eq!((status, calls(&body)), (200, Some(expected)), "{body}");
    }

    // Built once and kept (leaked) for the whole test, so it is in both measurements and
    // each request sends it without a copy.
    let numbers = "0,".repeat(LARGE_NUMBERS);
    let large: &'static str = format!(r#"{{"instances": ["count", [{numbers}0]]}}"#).leak();
    drop(numbers);
    let rss_before = resident_mib();

    for i in 0..LARGE_REQUESTS {
        let (status, body) = server.post_raw(PATH, large).await;
        assert_eq!(status, 200, "{body}");
        // The first ran on the warm instance (its third call); each later one on the fresh
        // instance that replaced the one before.
        let expected = if i == 0 { 3 } else { 1 };
        assert_eq!(calls(&body), Some(expected), "large request {i}: {body}");
    }
    // Past an autoscaler tick: the replacement it starts ahead of demand (`min_instances`
    // 1) is in the measurement too.
    tokio::time::sleep(predictor_runtime::TICK + Duration::from_millis(200)).await;
    let rss_after = resident_mib();
    eprintln!("resident memory: {rss_before:.1} MiB before, {rss_after:.1} MiB after");
    assert!(
        rss_after < rss_before + RESIDENT_BOUND_MIB,
        "resident memory grew from {rss_before:.1} to {rss_after:.1} MiB"
    );

    // Small requests afterwards: answered by a fresh instance, then by the same one again.
    for expected in 1..=2 {
        let (status, body) = server.post(PATH, &small).await;
        assert_eq!((status, calls(&body)), (200, Some(expected)), "{body}");
    }

    let deployment = server.deployment("hog");
    let Ok(Predictor::Component(c)) = deployment.predictor() else {
        panic!("hog is a running component")
    };
    let metrics = &c.pool().metrics;
    assert_eq!(metrics.recycled_memory.get(), LARGE_REQUESTS);
    assert_eq!(metrics.instances_stopped.get(), LARGE_REQUESTS);
    assert_eq!(metrics.instances.get(), 1);
    let series = r#"predictor_instances_recycled_total{deployment="hog",component="predictor",reason="memory"}"#;
    assert_eq!(server.metric(series).await, LARGE_REQUESTS as f64);
    server.stop().await;
}
