//! Models as users export them, served natively: skl2onnx's default export (with ZipMap),
//! an MLP as torch.onnx exports it (named dynamic batch axis), and every datatype tract has
//! through V2.

use predictor_tests::{DeploymentDir, TestServer, assert_close, column, generated, reference};
use serde_json::{Value, json};

fn model_dir(name: &str, fixture: &str) -> DeploymentDir {
    DeploymentDir::new(&json!({"name": name, "model_file": "model.onnx"}))
        .with_file("model.onnx", std::fs::read(generated(fixture)).unwrap())
}

#[tokio::test]
async fn sklearn_default_export_with_zipmap_is_served() {
    let dir = model_dir("zipmap", "target/example-models/logreg_zipmap.onnx");
    let server = TestServer::start(&[&dir]).await;
    let (status, meta) = server.get("/v2/models/zipmap").await;
    assert_eq!(status, 200, "{meta}");
    let outputs: Vec<&str> = meta["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(outputs, ["output_label", "output_probability"]);

    let body = server.predict_reference("zipmap").await;
    assert_eq!(
        column(&body["predictions"], "output_label"),
        reference()["logreg_labels"]
    );
    assert_close(
        &column(&body["predictions"], "output_probability"),
        &reference()["logreg_probabilities"],
        1e-5,
    );
    server.stop().await;
}

#[tokio::test]
async fn a_torch_style_mlp_with_a_named_batch_axis_is_served() {
    let dir = model_dir("mlp", "target/example-models/mlp.onnx");
    let server = TestServer::start(&[&dir]).await;
    let (_, meta) = server.get("/v2/models/mlp").await;
    assert_eq!(
        meta["inputs"],
        json!([{"name": "input", "datatype": "FP32", "shape": [-1, 4]}])
    );
    assert_eq!(
        meta["outputs"],
        json!([{"name": "probs", "datatype": "FP32", "shape": [-1, 3]}])
    );

    let body = server.predict_reference("mlp").await;
    assert_close(
        &body["predictions"],
        &reference()["mlp_probabilities"],
        1e-5,
    );
    // Any batch size: the batch axis is symbolic.
    let one = json!({"instances": [[5.1, 3.5, 1.4, 0.2]]});
    let (status, body) = server.post("/v1/models/mlp:predict", &one).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["predictions"].as_array().unwrap().len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn a_keras_model_exported_by_tf2onnx_is_served() {
    let dir = model_dir("keras", "target/example-models/mlp_keras.onnx");
    let server = TestServer::start(&[&dir]).await;
    let (_, meta) = server.get("/v2/models/keras").await;
    assert_eq!(
        meta["inputs"],
        json!([{"name": "dense_input", "datatype": "FP32", "shape": [-1, 4]}])
    );
    assert_eq!(meta["outputs"][0]["name"], "dense_1");
    let body = server.predict_reference("keras").await;
    assert_close(
        &body["predictions"],
        &reference()["mlp_probabilities"],
        1e-5,
    );
    server.stop().await;
}

#[tokio::test]
async fn every_datatype_tract_supports_round_trips_through_v2() {
    let dir = model_dir("types", "target/example-models/identity_types.onnx");
    let server = TestServer::start(&[&dir]).await;
    let cases = [
        ("BOOL", json!([true, false])),
        ("UINT8", json!([0, 255])),
        ("UINT16", json!([0, 65535])),
        ("UINT32", json!([0, 4294967295u64])),
        ("UINT64", json!([0, u64::MAX])),
        ("INT8", json!([-128, 127])),
        ("INT16", json!([-32768, 32767])),
        ("INT32", json!([i32::MIN, i32::MAX])),
        ("INT64", json!([i64::MIN, i64::MAX])),
        ("FP16", json!([0.5, -2.0])),
        ("FP32", json!([0.1, -1.5])),
        ("FP64", json!([0.1, 1e300])),
        ("BYTES", json!(["hello", "wörld"])),
    ];
    let inputs: Vec<Value> = cases
        .iter()
        .map(|(dt, data)| json!({"name": format!("x_{dt}"), "datatype": dt, "shape": [2], "data": data}))
        .collect();
    let (status, body) = server
        .post("/v2/models/types/infer", &json!({"inputs": inputs}))
        .await;
    assert_eq!(status, 200, "{body}");
    for (i, (dt, data)) in cases.iter().enumerate() {
        let out = &body["outputs"][i];
        assert_eq!(out["name"], format!("y_{dt}"));
        assert_eq!(out["datatype"], *dt);
        assert_eq!(out["data"], *data, "{dt}");
    }
    // BF16 exists in V2 but not in tract: refused with the reason.
    let mut bf16 = inputs.clone();
    bf16[10] = json!({"name": "x_FP32", "datatype": "BF16", "shape": [2], "data": [1.0, 2.0]});
    let (status, body) = server
        .post("/v2/models/types/infer", &json!({"inputs": bf16}))
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("is BF16, the model takes FP32"),
        "{body}"
    );
    server.stop().await;
}

/// Every LinearClassifier form skl2onnx emits answers what scikit-learn does: string class
/// labels and raw scores (post_transform NONE) through the runtime's fused classifier head,
/// the binary single-model layout through tract-onnx's own expansion.
#[tokio::test]
async fn every_linear_classifier_form_matches_sklearn() {
    let strings = model_dir("strings", "target/example-models/linear_strings.onnx");
    let binary = model_dir("binary", "target/example-models/linear_binary.onnx");
    let svc = model_dir("svc", "target/example-models/linear_svc.onnx");
    let server = TestServer::start(&[&strings, &binary, &svc]).await;
    for (name, labels, scores, tolerance) in [
        ("strings", "strings_labels", "strings_probabilities", 1e-5),
        ("binary", "binary_labels", "binary_probabilities", 1e-5),
        ("svc", "svc_labels", "svc_scores", 1e-4),
    ] {
        let body = server.predict_reference(name).await;
        assert_eq!(
            column(&body["predictions"], "label"),
            reference()[labels],
            "{name}: {body}"
        );
        assert_close(
            &column(&body["predictions"], "probabilities"),
            &reference()[scores],
            tolerance,
        );
    }
    // String labels are BYTES in V2.
    let v2 = json!({"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32",
                    "data": reference()["instances"][0]}]});
    let (status, body) = server.post("/v2/models/strings/infer", &v2).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["outputs"][0]["datatype"], "BYTES");
    assert_eq!(body["outputs"][0]["data"], json!(["setosa"]));
    server.stop().await;
}

/// A graph's runs take `resources.limits.cores` slots; more wait in a bounded queue, and
/// past it a request is refused at once with 503 and Retry-After, counted on `/metrics`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_graph_has_a_bounded_queue() {
    let dir = DeploymentDir::new(&json!({
        "name": "wide", "model_file": "model.onnx",
        "resources": {"limits": {"cores": 1, "memory": 1024}}
    }))
    .with_file(
        "model.onnx",
        std::fs::read(generated("target/example-models/mlp_784_4096.onnx")).unwrap(),
    );
    let server = TestServer::start_options(predictor_runtime::ServeOptions {
        data_dir: predictor_tests::shared_data_dir(),
        deploy: vec![dir.path().to_path_buf()],
        max_queue: 1,
        ..Default::default()
    })
    .await;
    // 48 rows: tens of milliseconds a run, on the blocking pool.
    let rows: Vec<Vec<f32>> = (0..48).map(|r| vec![r as f32 / 48.0; 784]).collect();
    let body = json!({"instances": rows});
    let calls: Vec<_> = (0..6)
        .map(|_| {
            let client = server.client.clone();
            let url = format!("{}/v1/models/wide:predict", server.base);
            let body = body.clone();
            tokio::spawn(async move {
                let r = client.post(url).json(&body).send().await.unwrap();
                let retry = r.headers().get("retry-after").is_some();
                (r.status().as_u16(), retry, r.json::<Value>().await.unwrap())
            })
        })
        .collect();
    let mut refused = 0;
    for call in calls {
        let (status, retry, body) = call.await.unwrap();
        match status {
            200 => assert_eq!(body["predictions"].as_array().unwrap().len(), 48),
            503 => {
                assert!(retry, "{body}");
                assert!(
                    body["error"].as_str().unwrap().contains("run slot"),
                    "{body}"
                );
                refused += 1;
            }
            other => panic!("{other}: {body}"),
        }
    }
    assert!(refused >= 1, "one runs, one waits, the rest are refused");
    let hits = server
        .metric("predictor_limit_hits_total{deployment=\"wide\",component=\"predictor\",limit=\"queue\"}")
        .await;
    assert_eq!(hits, refused as f64);
    server.stop().await;
}

/// A graph's run is stopped at the server's call deadline, between two of its operators: a
/// 504 whose kind is `timeout`. The server and its other graphs go on serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graph_run_is_cut_at_the_call_deadline() {
    let wide = DeploymentDir::new(&json!({"name": "wide", "model_file": "model.onnx"})).with_file(
        "model.onnx",
        std::fs::read(generated("target/example-models/mlp_784_4096.onnx")).unwrap(),
    );
    let iris = DeploymentDir::example("iris-onnx", None);
    let server = TestServer::start_options(predictor_runtime::ServeOptions {
        data_dir: predictor_tests::shared_data_dir(),
        deploy: vec![wide.path().to_path_buf(), iris.path().to_path_buf()],
        call_deadline: std::time::Duration::from_millis(1),
        ..Default::default()
    })
    .await;
    // 512 rows: the first 784x4096 layer alone takes several times 1 ms here.
    let rows: Vec<Vec<f32>> = (0..512).map(|r| vec![(r % 4) as f32 / 4.0; 784]).collect();
    let started = std::time::Instant::now();
    let (status, body) = server
        .post("/v1/models/wide:predict", &json!({"instances": rows}))
        .await;
    assert_eq!(status, 504, "{body}");
    assert_eq!(body["kind"], "timeout", "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("call deadline"),
        "{body}"
    );
    let took = started.elapsed();
    let body = server.predict_reference("iris").await;
    assert_eq!(
        column(&body["predictions"], "label"),
        reference()["logreg_labels"]
    );
    // Cut after its first layer, not run to the end (three layers of which the second,
    // 4096x4096, is the largest).
    assert!(took < std::time::Duration::from_secs(5), "{took:?}");
    server.stop().await;
}

/// A graph is held to its deployment's `resources.limits.memory` as a component's memory is:
/// a model larger than the limit once loaded is refused with both sizes; a batch whose run
/// outgrows the limit is stopped (500, kind `memory_limit`) and the memory given back, so
/// the next request, and the server's other graphs, are served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graph_is_held_to_its_deployments_memory_limit() {
    let limits = |mb: u64| json!({"limits": {"cores": 1, "memory": mb}, "requests": {"cores": 0.2, "memory": 16}});
    // 80 MB of weights in a deployment allowed 64 MB.
    let large = DeploymentDir::new(&json!({"name": "large", "model_file": "model.onnx",
            "resources": limits(64)}))
    .with_file(
        "model.onnx",
        std::fs::read(generated("target/example-models/mlp_784_4096.onnx")).unwrap(),
    );
    // 1 MB of weights, 256 KB of hidden layer per row, 64 MB allowed: 50 rows fit, 1,000 do
    // not.
    let wide = DeploymentDir::new(&json!({"name": "wide", "model_file": "model.onnx",
            "resources": limits(64)}))
    .with_file(
        "model.onnx",
        std::fs::read(generated("target/example-models/mlp_4_65536.onnx")).unwrap(),
    );
    let iris = DeploymentDir::example("iris-onnx", None);
    let server = TestServer::start_options(predictor_runtime::ServeOptions {
        data_dir: predictor_tests::shared_data_dir(),
        deploy: vec![
            large.path().to_path_buf(),
            wide.path().to_path_buf(),
            iris.path().to_path_buf(),
        ],
        ..Default::default()
    })
    .await;
    let (status, body) = server
        .post(
            "/v1/models/large:predict",
            &json!({"instances": [vec![0.5f32; 784]]}),
        )
        .await;
    assert_eq!(status, 503, "{body}");
    let message = body["error"].as_str().unwrap();
    assert!(
        message.contains("once loaded, more than the deployment's memory limit of 64.0 MiB"),
        "{message}"
    );

    let rows = |n: usize| -> Vec<[f32; 4]> { (0..n).map(|r| [r as f32 / n as f32; 4]).collect() };
    let (status, body) = server
        .post("/v1/models/wide:predict", &json!({"instances": rows(1000)}))
        .await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(body["kind"], "memory_limit", "{body}");
    let message = body["error"].as_str().unwrap();
    assert!(
        message.contains("memory limit of 64.0 MiB exceeded")
            && message.contains("smaller batches"),
        "{message}"
    );
    // What the stopped run held was given back: a batch that fits runs, again and again.
    for _ in 0..3 {
        let (status, body) = server
            .post("/v1/models/wide:predict", &json!({"instances": rows(50)}))
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["predictions"].as_array().unwrap().len(), 50);
    }
    let body = server.predict_reference("iris").await;
    assert_eq!(
        column(&body["predictions"], "label"),
        reference()["logreg_labels"]
    );
    server.stop().await;
}
