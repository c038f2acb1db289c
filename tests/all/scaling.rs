//! Instances follow the load: started at once under load up to `max_instances`, dropped
//! once the load is gone down to `min_instances`. With `min_instances` 0 a stage goes to
//! zero after its retention period (state Idle: no instance, component unloaded) and the
//! next requests, arriving together, are all answered after one cold start; a transformer
//! scales the same way, and a native graph is unloaded and loaded again. The operator sees
//! it all on `/metrics`. A deployment whose
//! `requests` do not fit the node is refused, saying what is missing.

use predictor_runtime::NodeCapacity;
use predictor_runtime::{ServeOptions, start};
use predictor_tests::{DeploymentDir, TestServer, guests, shared_data_dir};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

fn series(name: &str, deployment: &str, component: &str) -> String {
    format!("predictor_{name}{{deployment=\"{deployment}\",component=\"{component}\"}}")
}

/// Polls `series` until `want(value)`, for at most `within`.
async fn wait_for(server: &TestServer, series: &str, within: Duration, want: impl Fn(f64) -> bool) {
    let started = Instant::now();
    loop {
        let value = server.metric(series).await;
        if want(value) {
            return;
        }
        assert!(
            started.elapsed() < within,
            "{series} is {value} after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Sends `n` V1 predictions of `body` to `model` at once; each task answers status and body.
fn concurrently(
    server: &TestServer,
    model: &str,
    body: Value,
    n: usize,
) -> Vec<tokio::task::JoinHandle<(u16, Value)>> {
    (0..n)
        .map(|_| {
            let client = server.client.clone();
            let url = format!("{}/v1/models/{model}:predict", server.base);
            let body = body.clone();
            tokio::spawn(async move {
                let r = client.post(url).json(&body).send().await.unwrap();
                (r.status().as_u16(), r.json::<Value>().await.unwrap())
            })
        })
        .collect()
}

fn hog(definition: Value) -> DeploymentDir {
    DeploymentDir::new(&definition).with_file("predictor.wasm", std::fs::read(guests::HOG).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_are_added_under_load_and_removed_when_idle() {
    let dir = hog(json!({
        "name": "slow", "component_file": "predictor.wasm",
        "scaling_configuration": {
            "min_instances": 1, "max_instances": 4, "target": 1,
            "stable_window_seconds": 6
        }
    }));
    let server = TestServer::start(&[&dir]).await;
    let instances = series("instances", "slow", "predictor");
    let queue = series("queue_depth", "slow", "predictor");
    assert_eq!(server.metric(&instances).await, 1.0);

    // Six requests of 700 ms at once: four instances start at once (the maximum), two
    // requests wait for them.
    let calls = concurrently(&server, "slow", json!({"instances": ["sleep", 700]}), 6);
    wait_for(&server, &queue, Duration::from_secs(5), |v| v == 2.0).await;
    assert_eq!(server.metric(&instances).await, 4.0);
    for call in calls {
        let (status, body) = call.await.unwrap();
        assert_eq!(status, 200, "{body}");
    }

    // The load is gone: after the stable window the autoscaler wants one again (the
    // minimum) and the idle instances are dropped.
    assert_eq!(server.metric(&instances).await, 4.0);
    wait_for(&server, &instances, Duration::from_secs(15), |v| v == 1.0).await;
    assert_eq!(
        server
            .metric(&series("instances_desired", "slow", "predictor"))
            .await,
        1.0
    );
    assert_eq!(
        server.deployment("slow").lifecycle_state().as_str(),
        "Running"
    );
    let (status, body) = server
        .post("/v1/models/slow:predict", &json!({"instances": ["count"]}))
        .await;
    assert_eq!(status, 200, "{body}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_at_zero_answers_its_next_requests_after_one_cold_start() {
    let dir = hog(json!({
        "name": "sleepy", "component_file": "predictor.wasm",
        "scaling_configuration": {"min_instances": 0, "scale_to_zero_retention_seconds": 1}
    }));
    let server = TestServer::start(&[&dir]).await;
    let instances = series("instances", "sleepy", "predictor");
    // It starts with one instance (its init must succeed to deploy), then goes to zero.
    let (status, _) = server
        .post(
            "/v1/models/sleepy:predict",
            &json!({"instances": ["count"]}),
        )
        .await;
    assert_eq!(status, 200);
    wait_for(&server, &instances, Duration::from_secs(5), |v| v == 0.0).await;
    let deployment = server.deployment("sleepy");
    assert_eq!(deployment.lifecycle_state().as_str(), "Idle");
    let (status, body) = server.get("/v2/models/sleepy/ready").await;
    assert_eq!(status, 200, "a deployment at zero is ready: {body}");

    // Five requests at once: the first reloads the component and starts an instance, the
    // others wait for the reload (or start their own instance from it); all are answered.
    let calls = concurrently(&server, "sleepy", json!({"instances": ["count"]}), 5);
    for call in calls {
        let (status, body) = call.await.unwrap();
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(deployment.lifecycle_state().as_str(), "Running");
    let cold = server
        .metric(&series("cold_start_seconds_count", "sleepy", "predictor"))
        .await;
    assert!(cold >= 1.0, "cold starts counted: {cold}");
    let seconds = server
        .metric(&series("cold_start_seconds_sum", "sleepy", "predictor"))
        .await;
    assert!(
        seconds > 0.0 && seconds / cold < 0.5,
        "{seconds} s over {cold} cold starts"
    );

    // And back to zero once idle again.
    wait_for(&server, &instances, Duration::from_secs(5), |v| v == 0.0).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transformer_scales_to_zero_with_its_predictor() {
    let mut definition: Value = serde_json::from_slice(
        &std::fs::read(predictor_tests::root().join("examples/python-transformer/deployment.json"))
            .unwrap(),
    )
    .unwrap();
    definition["transformer"]["scaling_configuration"] =
        json!({"min_instances": 0, "scale_to_zero_retention_seconds": 1});
    let dir = DeploymentDir::example("python-transformer", None);
    std::fs::write(
        dir.path().join("deployment.json"),
        serde_json::to_vec(&definition).unwrap(),
    )
    .unwrap();
    let server = TestServer::start(&[&dir]).await;
    let name = definition["name"].as_str().unwrap();
    let request: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("request.json")).unwrap()).unwrap();
    let path = format!("/v1/models/{name}:predict");
    let (status, first) = server.post(&path, &request).await;
    assert_eq!(status, 200, "{first}");

    let instances = series("instances", name, "transformer");
    // Counted from here: on a slow machine the 1 s retention may have passed once already.
    let cold = series("cold_start_seconds_count", name, "transformer");
    let colds = server.metric(&cold).await;
    wait_for(&server, &instances, Duration::from_secs(5), |v| v == 0.0).await;
    let (status, again) = server.post(&path, &request).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(first, again, "the same answer after a cold start");
    assert_eq!(server.metric(&cold).await, colds + 1.0);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_native_graph_is_unloaded_at_zero_and_loaded_again_by_its_next_requests() {
    let dir = DeploymentDir::example("iris-onnx", None);
    let mut definition: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("deployment.json")).unwrap())
            .unwrap();
    definition["scaling_configuration"] =
        json!({"min_instances": 0, "scale_to_zero_retention_seconds": 1});
    std::fs::write(
        dir.path().join("deployment.json"),
        serde_json::to_vec(&definition).unwrap(),
    )
    .unwrap();
    let server = TestServer::start(&[&dir]).await;
    let request: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("request.json")).unwrap()).unwrap();
    let (status, first) = server.post("/v1/models/iris:predict", &request).await;
    assert_eq!(status, 200, "{first}");
    let instances = series("instances", "iris", "predictor");
    assert_eq!(
        server.metric(&instances).await,
        1.0,
        "a loaded graph counts as one"
    );
    // Counted from here: on a slow machine the 1 s retention may have passed once already.
    let cold = series("cold_start_seconds_count", "iris", "predictor");
    let stopped = series("instances_stopped_total", "iris", "predictor");
    let (colds, stops) = (server.metric(&cold).await, server.metric(&stopped).await);

    wait_for(&server, &instances, Duration::from_secs(5), |v| v == 0.0).await;
    let deployment = server.deployment("iris");
    assert_eq!(deployment.lifecycle_state().as_str(), "Idle");
    // Metadata and readiness do not load the graph: its signature is kept.
    let (status, meta) = server.get("/v2/models/iris").await;
    assert_eq!(status, 200, "{meta}");
    assert_eq!(meta["inputs"][0]["shape"], json!([-1, 4]));
    assert_eq!(server.get("/v2/models/iris/ready").await.0, 200);
    assert_eq!(deployment.lifecycle_state().as_str(), "Idle");

    // The graph really left memory: the next request reads the file again. A file gone bad
    // in between is that request's 500 (the stage stays at zero), and once it is whole
    // again the next request loads it.
    let model = deployment.dir.join("model.onnx");
    let good = std::fs::read(&model).unwrap();
    let replace = |bytes: &[u8]| {
        let tmp = deployment.dir.join("model.onnx.tmp");
        std::fs::write(&tmp, bytes).unwrap();
        std::fs::rename(&tmp, &model).unwrap();
    };
    replace(b"not an onnx model");
    let (status, body) = server.post("/v1/models/iris:predict", &request).await;
    assert_eq!(status, 500, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("cannot load model"),
        "{body}"
    );
    assert_eq!(server.metric(&instances).await, 0.0);
    replace(&good);

    // Five requests at once: one load, shared; every answer as before.
    let calls = concurrently(&server, "iris", request.clone(), 5);
    for call in calls {
        let (status, body) = call.await.unwrap();
        assert_eq!(status, 200, "{body}");
        assert_eq!(body, first);
    }
    assert_eq!(deployment.lifecycle_state().as_str(), "Running");
    assert_eq!(server.metric(&instances).await, 1.0);
    assert_eq!(
        server.metric(&cold).await,
        colds + 1.0,
        "one load for five requests"
    );
    assert_eq!(server.metric(&stopped).await, stops + 1.0);

    wait_for(&server, &instances, Duration::from_secs(5), |v| v == 0.0).await;
    server.stop().await;
}

#[tokio::test]
async fn a_deployment_whose_requests_do_not_fit_the_node_is_refused() {
    let requests = |name: &str| {
        hog(json!({
            "name": name, "component_file": "predictor.wasm",
            "resources": {"requests": {"cores": 0.6, "memory": 64}}
        }))
    };
    let (first, second) = (requests("first"), requests("second"));
    let at_zero = hog(json!({
        "name": "at-zero", "component_file": "predictor.wasm",
        "resources": {"requests": {"cores": 0.6, "memory": 64}},
        "scaling_configuration": {"min_instances": 0}
    }));
    let server = start(&ServeOptions {
        data_dir: shared_data_dir(),
        // A store of its own: no test restores another's deployments.
        store_dir: Some(predictor_tests::scratch_store()),
        deploy: [&first, &second, &at_zero]
            .iter()
            .map(|d| d.path().to_path_buf())
            .collect(),
        node: NodeCapacity {
            cores: 1.0,
            memory_mb: 1000,
        },
        ..ServeOptions::default()
    })
    .await
    .unwrap();
    let base = format!("http://{}", server.addr);
    let client = reqwest::Client::new();
    let predict = |name: &str| {
        client
            .post(format!("{base}/v1/models/{name}:predict"))
            .json(&json!({"instances": ["count"]}))
            .send()
    };
    assert_eq!(predict("first").await.unwrap().status(), 200);
    // A deployment at zero reserves nothing, so it fits beside the first.
    assert_eq!(predict("at-zero").await.unwrap().status(), 200);
    let refused = predict("second").await.unwrap();
    assert_eq!(refused.status(), 503);
    let body: Value = refused.json().await.unwrap();
    let error = body["error"].as_str().unwrap();
    assert!(
        error.contains("not enough capacity on this node")
            && error.contains(
                "the node has 1 cores and 1000 MB, of which 0.60 cores and 64 MB are reserved"
            )
            && error.contains("0.20 cores missing"),
        "{error}"
    );
    server.stop().await.unwrap();
}
