//! Batching (`inference_batcher`): concurrent requests are merged into one predictor call
//! and every caller gets exactly its own rows back, for V1 `instances`, V1 `inputs` and V2
//! tensors, on a Rust component, a native graph and a Python script. A failing row fails
//! only its own request; `timeout` bounds the whole wait; a full queue answers 503 with
//! Retry-After; `Server-Timing` says how a request was batched; `/metrics` shows batch
//! sizes, queue waits and why batches closed. Without the batcher nothing changes.
//!
//! The `rows` guest answers each row with itself and the number of rows in the call, so the
//! tests see both what came back and how calls were merged.

use predictor_runtime::ServeOptions;
use predictor_tests::{DeploymentDir, TestServer, guests, shared_data_dir};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

fn rows_guest(definition: Value) -> DeploymentDir {
    DeploymentDir::new(&definition)
        .with_file("predictor.wasm", std::fs::read(guests::ROWS).unwrap())
}

/// A copy of `examples/EXAMPLE` named `name`, with `batcher` as its `inference_batcher`.
fn example(example: &str, name: &str, batcher: Option<Value>) -> DeploymentDir {
    let dir = DeploymentDir::example(example, None);
    let path = dir.path().join("deployment.json");
    let mut definition: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    definition["name"] = json!(name);
    if let Some(b) = batcher {
        definition["inference_batcher"] = b;
    }
    std::fs::write(&path, definition.to_string()).unwrap();
    dir
}

/// POSTs `body` to `path`: status, `Server-Timing` (if any) and JSON body.
async fn post(server: &TestServer, path: &str, body: &Value) -> (u16, Option<String>, Value) {
    let r = server
        .client
        .post(format!("{}{path}", server.base))
        .json(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let timing = r
        .headers()
        .get("server-timing")
        .map(|v| v.to_str().unwrap().to_string());
    (status, timing, r.json().await.unwrap())
}

/// The requests in a request's batch, from its `Server-Timing` description.
fn batch_requests(timing: &str) -> usize {
    let desc = timing.split("desc=\"").nth(1).unwrap();
    let requests = desc.split(", ").nth(1).unwrap();
    requests.split(' ').next().unwrap().parse().unwrap()
}

/// One caller of the property test: a request form, its rows and columns, and when it
/// starts (ms after the others).
#[derive(Clone, Debug)]
struct Caller {
    form: u8,
    rows: usize,
    cols: usize,
    delay_ms: u64,
}

fn callers() -> impl Strategy<Value = Vec<Caller>> {
    prop::collection::vec(
        (0u8..4, 1usize..6, 1usize..4, 0u64..6).prop_map(|(form, rows, cols, delay_ms)| Caller {
            form,
            rows,
            cols,
            delay_ms,
        }),
        1..48,
    )
}

/// Sends caller `i`'s request (values unique to it) and checks it got exactly its rows
/// back. Returns how many rows its call had.
async fn call(server: &TestServer, i: usize, c: &Caller) -> Result<usize, TestCaseError> {
    tokio::time::sleep(Duration::from_millis(c.delay_ms)).await;
    let values: Vec<i64> = (0..c.rows * c.cols).map(|k| (i * 100 + k) as i64).collect();
    let matrix: Vec<Value> = values.chunks(c.cols).map(|r| json!(r)).collect();
    let (status, timing, body) = match c.form {
        0 => {
            post(
                server,
                "/v1/models/rows:predict",
                &json!({"instances": matrix}),
            )
            .await
        }
        1 => {
            post(
                server,
                "/v1/models/rows:predict",
                &json!({"inputs": matrix}),
            )
            .await
        }
        // V2, as FP32 or INT64: tensors of other datatypes or widths are never merged.
        form => {
            let datatype = if form == 2 { "FP32" } else { "INT64" };
            let input = json!({"name": "x", "datatype": datatype, "shape": [c.rows, c.cols], "data": values});
            post(server, "/v2/models/rows/infer", &json!({"inputs": [input]})).await
        }
    };
    prop_assert_eq!(status, 200, "{}", body);
    prop_assert!(
        timing.is_some(),
        "a batched request says how it was batched"
    );
    let call_rows = if c.form < 2 {
        let key = if c.form == 0 {
            "predictions"
        } else {
            "outputs"
        };
        let answer = body[key].as_array().unwrap();
        let rows: Vec<Value> = answer.iter().map(|a| a["row"].clone()).collect();
        prop_assert_eq!(rows, matrix, "{}", body);
        answer[0]["call_rows"].as_u64().unwrap() as usize
    } else {
        let outputs = body["outputs"].as_array().unwrap();
        let y = outputs.iter().find(|o| o["name"] == "y").unwrap();
        let got: Vec<i64> = y["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as i64)
            .collect();
        prop_assert_eq!(&got, &values);
        prop_assert_eq!(&y["shape"], &json!([c.rows, c.cols]));
        let n = outputs.iter().find(|o| o["name"] == "call_rows").unwrap();
        n["data"][0].as_u64().unwrap() as usize
    };
    prop_assert!(
        call_rows >= c.rows && call_rows <= 16,
        "call of {call_rows} rows"
    );
    Ok(call_rows)
}

/// Random interleavings of many concurrent callers with different forms, row counts and
/// widths: every caller gets exactly its own rows, and calls were merged.
#[test]
fn every_caller_gets_exactly_its_own_rows() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = rows_guest(json!({
        "name": "rows", "component_file": "predictor.wasm",
        "inference_batcher": {"enabled": true, "max_batch_size": 16, "max_latency": 10},
        "scaling_configuration": {"min_instances": 1, "max_instances": 2}
    }));
    let server = runtime.block_on(TestServer::start(&[&dir]));
    let merged = std::sync::atomic::AtomicUsize::new(0);
    let mut runner = TestRunner::new(Config {
        cases: 64,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&callers(), |callers| {
            runtime.block_on(async {
                let calls = callers.iter().enumerate().map(|(i, c)| call(&server, i, c));
                for (c, result) in callers
                    .iter()
                    .zip(futures_util::future::join_all(calls).await)
                {
                    if result? > c.rows {
                        merged.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
                Ok(())
            })
        })
        .unwrap();
    assert!(
        merged.into_inner() > 0,
        "some requests were answered from merged calls"
    );
    runtime.block_on(async {
        let batches = server
            .metric("predictor_batch_size_count{deployment=\"rows\",stage=\"predict\"}")
            .await;
        let size_flushes = server
            .metric("predictor_batch_flushes_total{deployment=\"rows\",stage=\"predict\",reason=\"size\"}")
            .await;
        let latency_flushes = server
            .metric("predictor_batch_flushes_total{deployment=\"rows\",stage=\"predict\",reason=\"latency\"}")
            .await;
        assert!(batches > 0.0 && size_flushes > 0.0 && latency_flushes > 0.0);
        server.stop().await;
    });
}

/// A numeric JSON value close to another, recursively (objects and arrays alike).
fn assert_same(got: &Value, want: &Value) {
    match (got, want) {
        (Value::Number(a), Value::Number(b)) => {
            let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
            assert!((a - b).abs() <= 1e-5, "{a} vs {b}");
        }
        (Value::Array(a), Value::Array(b)) => {
            assert_eq!(a.len(), b.len(), "{got} vs {want}");
            a.iter().zip(b).for_each(|(a, b)| assert_same(a, b));
        }
        (Value::Object(a), Value::Object(b)) => {
            assert_eq!(a.len(), b.len(), "{got} vs {want}");
            for (k, v) in a {
                assert_same(v, &b[k]);
            }
        }
        _ => assert_eq!(got, want),
    }
}

/// A native graph batches V1 and V2 requests into one run each; every answer is what the
/// same graph without batching gives for that request alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_native_graph_batches_v1_and_v2() {
    let batched = example(
        "iris-onnx",
        "iris-batched",
        Some(json!({"enabled": true, "max_batch_size": 64, "max_latency": 20})),
    );
    let plain = example("iris-onnx", "iris-plain", None);
    let server = TestServer::start(&[&batched, &plain]).await;
    let request = |i: usize| {
        let rows: Vec<Vec<f64>> = (0..1 + i % 3)
            .map(|r| {
                (0..4)
                    .map(|f| 0.5 + ((i * 7 + r * 3 + f) % 13) as f64 * 0.5)
                    .collect()
            })
            .collect();
        if i.is_multiple_of(2) {
            (
                "/v1/models/{}:predict",
                json!({"instances": rows}),
                "predictions",
            )
        } else {
            let data: Vec<f64> = rows.concat();
            let input = json!({"name": "input", "datatype": "FP32", "shape": [rows.len(), 4], "data": data});
            ("/v2/models/{}/infer", json!({"inputs": [input]}), "outputs")
        }
    };
    let calls = (0..24).map(|i| {
        let (path, body, key) = request(i);
        let server = &server;
        async move {
            let (status, timing, got) =
                post(server, &path.replace("{}", "iris-batched"), &body).await;
            assert_eq!(status, 200, "{got}");
            let (status, plain_timing, want) =
                post(server, &path.replace("{}", "iris-plain"), &body).await;
            assert_eq!(status, 200, "{want}");
            assert!(plain_timing.is_none(), "no batcher, no batch timing");
            assert_same(&got[key], &want[key]);
            batch_requests(&timing.expect("batched"))
        }
    });
    let sizes = futures_util::future::join_all(calls).await;
    assert!(sizes.iter().any(|&n| n > 1), "requests merged: {sizes:?}");
    server.stop().await;
}

/// A Hopsworks Python `Predict` receives the merged list and each caller its own slice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_predictor_receives_the_merged_instances() {
    let dir = example(
        "python-iris",
        "iris-python-batched",
        Some(json!({"enabled": true, "max_batch_size": 32, "max_latency": 30})),
    );
    let server = TestServer::start(&[&dir]).await;
    let instances = [
        [5.1, 3.5, 1.4, 0.2],
        [6.2, 2.9, 4.3, 1.3],
        [7.7, 3.0, 6.1, 2.3],
    ];
    let path = "/v1/models/iris-python-batched:predict";
    let mut alone = Vec::new();
    for row in &instances {
        let (status, _, body) = post(&server, path, &json!({"instances": [row]})).await;
        assert_eq!(status, 200, "{body}");
        alone.push(body["predictions"].clone());
    }
    let calls = (0..12).map(|i| {
        let server = &server;
        let row = instances[i % 3];
        async move { post(server, path, &json!({"instances": [row]})).await }
    });
    let mut merged = 0;
    for (i, (status, timing, body)) in futures_util::future::join_all(calls)
        .await
        .into_iter()
        .enumerate()
    {
        assert_eq!(status, 200, "{body}");
        assert_same(&body["predictions"], &alone[i % 3]);
        merged = merged.max(batch_requests(&timing.unwrap()));
    }
    assert!(merged > 1, "the script got merged instances");
    server.stop().await;
}

/// A row that fails its call fails only its own request: the batch is rerun request by
/// request, and everyone else gets their predictions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_row_fails_only_its_own_request() {
    let dir = rows_guest(json!({
        "name": "rows", "component_file": "predictor.wasm",
        "inference_batcher": {"enabled": true, "max_batch_size": 64, "max_latency": 50}
    }));
    let server = TestServer::start(&[&dir]).await;
    let calls = (0..10).map(|i| {
        let server = &server;
        async move {
            let (path, body) = match (i, i % 2) {
                (3, _) => ("/v1/models/rows:predict", json!({"instances": ["poison"]})),
                (6, _) => (
                    "/v2/models/rows/infer",
                    json!({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 1], "data": [-1.0]}]}),
                ),
                (_, 0) => ("/v1/models/rows:predict", json!({"instances": [i]})),
                _ => (
                    "/v2/models/rows/infer",
                    json!({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 1], "data": [i]}]}),
                ),
            };
            (i, post(server, path, &body).await)
        }
    });
    for (i, (status, _, body)) in futures_util::future::join_all(calls).await {
        match i {
            3 | 6 => {
                assert_eq!(status, 400, "{body}");
                assert!(body["error"].as_str().unwrap().contains("poison"), "{body}");
            }
            _ if i % 2 == 0 => {
                assert_eq!(status, 200, "{body}");
                assert_eq!(body["predictions"][0]["row"], json!(i));
            }
            _ => {
                assert_eq!(status, 200, "{body}");
                assert_eq!(body["outputs"][0]["data"], json!([i as f64]));
            }
        }
    }
    let isolated = server
        .metric("predictor_batch_isolated_total{deployment=\"rows\",stage=\"predict\"}")
        .await;
    assert!(isolated >= 1.0, "the merged batches were rerun: {isolated}");
    server.stop().await;
}

/// `timeout` bounds the whole wait: a request whose batch would close too late is run
/// early enough (flush reason timeout), a slow call is answered 504 on time, and the
/// deployment serves on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_timeout_bounds_the_whole_wait() {
    let dir = rows_guest(json!({
        "name": "rows", "component_file": "predictor.wasm",
        "inference_batcher": {"enabled": true, "max_batch_size": 8, "max_latency": 2000, "timeout": 300},
        "scaling_configuration": {"min_instances": 1, "max_instances": 2}
    }));
    let server = TestServer::start(&[&dir]).await;
    let path = "/v1/models/rows:predict";

    let started = Instant::now();
    let (status, _, body) = post(&server, path, &json!({"instances": [1]})).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        started.elapsed() < Duration::from_millis(1000),
        "run before its timeout, not after max_latency: {:?}",
        started.elapsed()
    );
    let timeout_flushes =
        "predictor_batch_flushes_total{deployment=\"rows\",stage=\"predict\",reason=\"timeout\"}";
    assert_eq!(server.metric(timeout_flushes).await, 1.0);

    let started = Instant::now();
    let (status, _, body) = post(&server, path, &json!({"instances": [{"sleep": 3000}]})).await;
    let waited = started.elapsed();
    assert_eq!(status, 504, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("timeout"),
        "{body}"
    );
    assert!(
        waited >= Duration::from_millis(300) && waited < Duration::from_millis(1000),
        "answered at its timeout: {waited:?}"
    );

    let (status, _, body) = post(&server, path, &json!({"instances": [2]})).await;
    assert_eq!(status, 200, "{body}");
    server.stop().await;
}

/// Past the queue bound, requests are refused at once with 503 and Retry-After.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_batch_queue_answers_503_with_retry_after() {
    let dir = rows_guest(json!({
        "name": "rows", "component_file": "predictor.wasm",
        "inference_batcher": {"enabled": true, "max_batch_size": 1, "max_latency": 1},
        "scaling_configuration": {"min_instances": 1, "max_instances": 1}
    }));
    let server = TestServer::start_options(ServeOptions {
        data_dir: shared_data_dir(),
        deploy: vec![dir.path().to_path_buf()],
        max_queue: 2,
        ..ServeOptions::default()
    })
    .await;
    let calls = (0..8).map(|_| {
        let client = server.client.clone();
        let url = format!("{}/v1/models/rows:predict", server.base);
        tokio::spawn(async move {
            let r = client
                .post(url)
                .json(&json!({"instances": [{"sleep": 300}]}))
                .send()
                .await
                .unwrap();
            let retry_after = r.headers().get("retry-after").cloned();
            (
                r.status().as_u16(),
                retry_after,
                r.json::<Value>().await.unwrap(),
            )
        })
    });
    // Spawned now, all at once (the map is lazy).
    let calls: Vec<_> = calls.collect();
    let mut statuses = Vec::new();
    for call in calls {
        let (status, retry_after, body) = call.await.unwrap();
        if status == 503 {
            assert!(retry_after.is_some(), "{body}");
            assert!(
                body["error"].as_str().unwrap().contains("batch queue"),
                "{body}"
            );
        } else {
            assert_eq!(status, 200, "{body}");
        }
        statuses.push(status);
    }
    let served = statuses.iter().filter(|&&s| s == 200).count();
    // One running and two queued are served; the five others are refused.
    assert_eq!(served, 3, "{statuses:?}");
    let refused = server
        .metric("predictor_limit_hits_total{deployment=\"rows\",component=\"predictor\",limit=\"queue\"}")
        .await;
    assert_eq!(refused, 5.0);
    server.stop().await;
}

/// With the batcher disabled (or absent) requests go straight to the predictor, one call
/// each, with no batch timing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_batcher_is_not_there() {
    let dir = rows_guest(json!({
        "name": "rows", "component_file": "predictor.wasm",
        "inference_batcher": {"enabled": false, "max_batch_size": 8}
    }));
    let server = TestServer::start(&[&dir]).await;
    assert!(
        server
            .deployment("rows")
            .serving()
            .unwrap()
            .predictor
            .batcher()
            .is_none()
    );
    let server = &server;
    let calls = (0..6).map(|i| async move {
        post(
            server,
            "/v1/models/rows:predict",
            &json!({"instances": [i]}),
        )
        .await
    });
    for (status, timing, body) in futures_util::future::join_all(calls).await {
        assert_eq!(status, 200, "{body}");
        assert!(timing.is_none());
        assert_eq!(body["predictions"][0]["call_rows"], 1);
    }
}

/// Requests whose tensors differ in width or datatype are batched apart: each batch holds
/// one shape, and everyone gets their own rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_shapes_are_batched_apart() {
    let dir = rows_guest(json!({
        "name": "rows", "component_file": "predictor.wasm",
        "inference_batcher": {"enabled": true, "max_batch_size": 64, "max_latency": 50}
    }));
    let server = TestServer::start(&[&dir]).await;
    let kinds = [("FP32", 2), ("FP32", 3), ("INT64", 2)];
    let calls = (0..12).map(|i| {
        let server = &server;
        let (datatype, cols) = kinds[i % 3];
        async move {
            let data: Vec<usize> = (0..cols).map(|k| i * 10 + k).collect();
            let input =
                json!({"name": "x", "datatype": datatype, "shape": [1, cols], "data": data});
            let (status, timing, body) =
                post(server, "/v2/models/rows/infer", &json!({"inputs": [input]})).await;
            assert_eq!(status, 200, "{body}");
            let y = &body["outputs"][0];
            assert_eq!(y["shape"], json!([1, cols]));
            let got: Vec<usize> = y["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as usize)
                .collect();
            assert_eq!(got, data);
            let call_rows = body["outputs"][1]["data"][0].as_u64().unwrap();
            (call_rows, batch_requests(&timing.unwrap()))
        }
    });
    let answers = futures_util::future::join_all(calls).await;
    // Four requests of each kind: a call never holds more than its own kind's rows.
    assert!(answers.iter().all(|&(rows, _)| rows <= 4), "{answers:?}");
    assert!(
        answers.iter().any(|&(_, requests)| requests > 1),
        "{answers:?}"
    );
    server.stop().await;
}
