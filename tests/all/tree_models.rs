//! Tree ensembles as users bring them, run by our engine: every ONNX export of the tree
//! fixtures (skl2onnx's RandomForest, ExtraTrees, GradientBoosting, HistGradientBoosting,
//! IsolationForest; onnxmltools' XGBoost and LightGBM; opset-5 TreeEnsemble) loaded whole
//! and compared with onnxruntime's answers for the same 1,000 rows (labels exact, scores to
//! 1e-5), and XGBoost/LightGBM models as their libraries save them compared with the
//! libraries' own `predict`, in process and over V1 and V2. A tree deployment batches,
//! scales to zero and logs like any native graph.
//!
//! Fixtures: `target/tree-fixtures` (made by `tree-ensemble/scripts/make.py`, run by
//! scripts/setup.sh; layout documented there).

use predictor_runtime::{Datatype, NativeModel, ServeOptions, Tensor};
use predictor_tests::{DeploymentDir, TestServer, root};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn dir() -> PathBuf {
    root().join("target/tree-fixtures")
}

fn manifest() -> Vec<Value> {
    let path = dir().join("manifest.json");
    let bytes = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run scripts/setup.sh", path.display()));
    serde_json::from_slice(&bytes).unwrap()
}

/// An array of the fixtures: its shape and its values as f64 (int64 and float alike).
fn array(a: &Value) -> (Vec<usize>, Vec<f64>) {
    let bytes = std::fs::read(dir().join(a["file"].as_str().unwrap())).unwrap();
    let shape = a["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap() as usize)
        .collect();
    let values = match a["dtype"].as_str().unwrap() {
        "float32" => bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64)
            .collect(),
        "float64" => bytes
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
            .collect(),
        "int64" => bytes
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes(c.try_into().unwrap()) as f64)
            .collect(),
        other => panic!("dtype {other}"),
    };
    (shape, values)
}

fn fp32(name: &str, shape: Vec<usize>, values: &[f64]) -> Tensor {
    Tensor {
        name: name.into(),
        datatype: Datatype::Fp32,
        shape,
        data: values
            .iter()
            .flat_map(|&v| (v as f32).to_le_bytes())
            .collect(),
    }
}

/// A tensor's numbers as f64 (FP32, FP64, INT64).
fn numbers(t: &Tensor) -> Vec<f64> {
    match t.datatype {
        Datatype::Fp32 => t
            .data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64)
            .collect(),
        Datatype::Fp64 => t
            .data
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
            .collect(),
        Datatype::Int64 => t
            .data
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes(c.try_into().unwrap()) as f64)
            .collect(),
        other => panic!("{}: {other:?} is not numeric", t.name),
    }
}

/// Scores agree to 1e-5 of the output's scale (its largest magnitude, at least 1): for
/// probabilities that is 1e-5 absolute; for regressors whose outputs reach hundreds, float
/// summation order alone (ours, onnxruntime's thread chunks, the library's) moves the last
/// digits of the sum by more.
fn assert_scores(what: &str, ours: &[f64], theirs: &[f64]) {
    assert_eq!(ours.len(), theirs.len(), "{what}: lengths");
    let scale = theirs
        .iter()
        .filter(|v| v.is_finite())
        .fold(1f64, |m, v| m.max(v.abs()));
    for (i, (a, b)) in ours.iter().zip(theirs).enumerate() {
        let ok = (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= 1e-5 * scale;
        assert!(
            ok,
            "{what}: element {i}: ours {a}, theirs {b} (scale {scale})"
        );
    }
}

#[test]
fn onnx_tree_exports_answer_as_onnxruntime_does() {
    let mut checked = Vec::new();
    for case in manifest() {
        let Some(full) = case.get("full_model") else {
            continue;
        };
        let name = case["name"].as_str().unwrap();
        let file = full["file"].as_str().unwrap();
        let bytes = std::fs::read(dir().join(file)).unwrap();
        let model = NativeModel::load(file, &bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let (shape, x) = array(&full["input"]);
        let input = full["input_name"].as_str().unwrap();
        let outputs = model.run(vec![fp32(input, shape, &x)]).unwrap();
        let expected = full["outputs"].as_array().unwrap();
        assert_eq!(outputs.len(), expected.len(), "{name}: output count");
        for (ours, theirs) in outputs.iter().zip(expected) {
            let what = format!("{name}/{}", theirs["name"]);
            assert_eq!(ours.name, theirs["name"].as_str().unwrap(), "{what}");
            if theirs["dtype"] == "string" {
                assert_eq!(ours.datatype, Datatype::Bytes, "{what}");
                assert_eq!(
                    string_values(ours),
                    theirs["strings"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|s| s.as_str().unwrap().to_string())
                        .collect::<Vec<_>>(),
                    "{what}"
                );
                continue;
            }
            let (want_shape, want) = array(theirs);
            assert_eq!(ours.shape, want_shape, "{what}: shape");
            if ours.datatype == Datatype::Int64 {
                assert_eq!(numbers(ours), want, "{what}: labels");
            } else {
                assert_scores(&what, &numbers(ours), &want);
            }
        }
        checked.push(name.to_string());
    }
    for expected in ["rf", "et", "gb", "hgb", "iforest", "xgb", "lgbm"] {
        assert!(
            checked.iter().any(|c| c.starts_with(expected)),
            "no {expected} model among {checked:?}"
        );
    }
}

/// BYTES elements: 4-byte little-endian length, then the bytes.
fn string_values(t: &Tensor) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = t.data.as_slice();
    while rest.len() >= 4 {
        let n = u32::from_le_bytes(rest[..4].try_into().unwrap()) as usize;
        out.push(String::from_utf8(rest[4..4 + n].to_vec()).unwrap());
        rest = &rest[4 + n..];
    }
    out
}

/// What the library's `predict` answered for a natively saved `case`: the positive class's
/// probability for a binary classifier, every class's otherwise, the prediction of a
/// regressor.
fn library_predictions(case: &Value) -> Vec<f64> {
    let arrays = &case["arrays"];
    if let Some(pred) = arrays.get("lib_pred") {
        return array(pred).1;
    }
    let (shape, proba) = array(&arrays["lib_proba"]);
    if shape[1] == 2 {
        proba.chunks_exact(2).map(|p| p[1]).collect()
    } else {
        proba
    }
}

#[test]
fn saved_xgboost_and_lightgbm_models_answer_as_their_libraries() {
    let mut checked = 0;
    for case in manifest() {
        let kind = case["kind"].as_str().unwrap();
        if kind != "xgboost" && kind != "lightgbm" {
            continue;
        }
        let (shape, x) = array(&case["arrays"]["x"]);
        let want = library_predictions(&case);
        for file in case["files"].as_array().unwrap() {
            let file = file.as_str().unwrap();
            let bytes = std::fs::read(dir().join(file)).unwrap();
            let model = NativeModel::load(file, &bytes).unwrap_or_else(|e| panic!("{file}: {e}"));
            let out = model.run(vec![fp32("input", shape.clone(), &x)]).unwrap();
            // A batch split over threads answers exactly as one thread does.
            let split = model
                .run_with(vec![fp32("input", shape.clone(), &x)], 3)
                .unwrap();
            assert_eq!(split, out, "{file}: split over 3 threads");
            assert_eq!(out.len(), 1);
            assert_eq!(out[0].name, "predictions");
            assert_scores(file, &numbers(&out[0]), &want);
            checked += 1;
        }
    }
    assert!(checked >= 6, "{checked} native model files checked");
}

/// The first saved model file whose case is `kind` and whose file ends with `ext`.
fn saved(kind: &str, ext: &str) -> (Value, String) {
    manifest()
        .into_iter()
        .filter(|c| c["kind"] == kind)
        .find_map(|c| {
            let file = c["files"]
                .as_array()?
                .iter()
                .find(|f| f.as_str().is_some_and(|f| f.ends_with(ext)))?
                .as_str()?
                .to_string();
            Some((c, file))
        })
        .unwrap_or_else(|| panic!("no {kind} model saved as {ext}"))
}

/// Rows `from..to` of `case`'s inputs as V1 instances (a missing value is `null`).
fn instances(case: &Value, rows: std::ops::Range<usize>) -> Value {
    let (shape, x) = array(&case["arrays"]["x"]);
    let width = shape[1];
    Value::Array(
        rows.map(|r| {
            Value::Array(
                x[r * width..(r + 1) * width]
                    .iter()
                    .map(|&v| if v.is_nan() { Value::Null } else { json!(v) })
                    .collect(),
            )
        })
        .collect(),
    )
}

fn flat(v: &Value) -> Vec<f64> {
    match v {
        Value::Array(items) => items.iter().flat_map(flat).collect(),
        other => vec![other.as_f64().unwrap()],
    }
}

#[tokio::test]
async fn saved_models_are_served_as_kserve_serves_them_over_v1_and_v2() {
    let (xgb, xgb_file) = saved("xgboost", ".ubj");
    let (lgbm, lgbm_file) = saved("lightgbm", ".txt");
    // KServe's layouts: a folder with just the model, named as its servers name it.
    let xgb_dir = DeploymentDir::new(
        &json!({"name": "xgb", "model_file": "model.ubj", "model_framework": "XGBOOST"}),
    )
    .with_file("model.ubj", std::fs::read(dir().join(&xgb_file)).unwrap());
    let lgbm_dir = DeploymentDir::new(
        &json!({"name": "lgbm", "model_file": "model.bst", "model_framework": "LIGHTGBM"}),
    )
    .with_file("model.bst", std::fs::read(dir().join(&lgbm_file)).unwrap());
    let server = TestServer::start(&[&xgb_dir, &lgbm_dir]).await;
    for (name, case, platform) in [("xgb", &xgb, "xgboost"), ("lgbm", &lgbm, "lightgbm")] {
        let (status, meta) = server.get(&format!("/v2/models/{name}")).await;
        assert_eq!(status, 200, "{meta}");
        assert_eq!(meta["platform"], platform);
        let width = array(&case["arrays"]["x"]).0[1];
        assert_eq!(meta["inputs"][0]["shape"], json!([-1, width]));
        let want = library_predictions(case);
        let per_row = want.len() / array(&case["arrays"]["x"]).0[0];

        let rows = 0..200;
        let (status, body) = server
            .post(
                &format!("/v1/models/{name}:predict"),
                &json!({"instances": instances(case, rows.clone())}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_scores(name, &flat(&body["predictions"]), &want[..200 * per_row]);
        // TF Serving's bare NaN tokens (Python's json.dumps writes them) read the same.
        let bare = json!({"instances": instances(case, rows.clone())})
            .to_string()
            .replace("null", "NaN");
        assert!(bare.contains("NaN"), "the rows have missing values");
        let (status, again) = server
            .post_raw(&format!("/v1/models/{name}:predict"), bare)
            .await;
        assert_eq!(status, 200, "{again}");
        assert_eq!(again, body);

        let v2 = json!({"inputs": [{"name": "input", "datatype": "FP32", "shape": [50, width],
                         "data": instances(case, 200..250)}]});
        let (status, body) = server.post(&format!("/v2/models/{name}/infer"), &v2).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["outputs"][0]["name"], "predictions");
        assert_scores(
            name,
            &flat(&body["outputs"][0]["data"]),
            &want[200 * per_row..250 * per_row],
        );
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tree_deployment_batches_scales_to_zero_and_logs() {
    let (case, file) = saved("xgboost", ".json");
    let dir_ = DeploymentDir::new(&json!({
        "name": "trees", "model_file": "model.json",
        "inference_batcher": {"enabled": true, "max_batch_size": 32, "max_latency": 20},
        "scaling_configuration": {"min_instances": 0, "scale_to_zero_retention_seconds": 1},
        "inference_logger": {"mode": "ALL"}
    }))
    .with_file("model.json", std::fs::read(dir().join(&file)).unwrap());
    let data_dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_options(ServeOptions {
        data_dir: data_dir.path().to_path_buf(),
        deploy: vec![dir_.path().to_path_buf()],
        ..ServeOptions::default()
    })
    .await;
    let want = library_predictions(&case);
    let per_row = want.len() / array(&case["arrays"]["x"]).0[0];
    let one = |row: usize| json!({"instances": instances(&case, row..row + 1)});

    // Sixteen one-row requests at once: merged into fewer runs, each answered its own row.
    let calls: Vec<_> = (0..16)
        .map(|row| {
            let (client, base, body) = (server.client.clone(), server.base.clone(), one(row));
            tokio::spawn(async move {
                let r = client
                    .post(format!("{base}/v1/models/trees:predict"))
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                (row, r.status().as_u16(), r.json::<Value>().await.unwrap())
            })
        })
        .collect();
    for call in calls {
        let (row, status, body) = call.await.unwrap();
        assert_eq!(status, 200, "{body}");
        assert_scores(
            "batched",
            &flat(&body["predictions"]),
            &want[row * per_row..(row + 1) * per_row],
        );
    }
    let batches = server
        .metric("predictor_batch_size_count{deployment=\"trees\",stage=\"predict\"}")
        .await;
    assert!(
        (1.0..16.0).contains(&batches),
        "{batches} batches for 16 requests"
    );

    // At zero after its retention; the next request loads it again. Cold starts are counted
    // from here: on a slow machine the 1 s retention may have passed once already.
    let instances = "predictor_instances{deployment=\"trees\",component=\"predictor\"}";
    let cold = "predictor_cold_start_seconds_count{deployment=\"trees\",component=\"predictor\"}";
    let colds = server.metric(cold).await;
    server
        .wait_for_metric(
            instances,
            0.0,
            Duration::from_secs(10),
            "never went to zero",
        )
        .await;
    let (status, body) = server.post("/v1/models/trees:predict", &one(20)).await;
    assert_eq!(status, 200, "{body}");
    assert_scores(
        "reloaded",
        &flat(&body["predictions"]),
        &want[20 * per_row..21 * per_row],
    );
    assert_eq!(server.metric(cold).await, colds + 1.0, "one cold start");
    server.stop().await;

    // A request and a response record per inference, in the seed's schema.
    let log = data_dir.path().join("inference-log/trees.jsonl");
    let text = std::fs::read_to_string(&log).unwrap();
    let records: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 2 * 17, "{text}");
    assert!(
        records
            .iter()
            .all(|r| r["modelName"] == "trees" && r["responseHttpCode"] == 200)
    );
}

/// A tree ensemble is one operator, so the call deadline is also looked at between chunks
/// of its rows: a large batch is stopped part way, on one thread and split over three.
#[test]
fn a_large_tree_batch_is_cut_at_the_deadline_inside_its_operator() {
    let case = manifest()
        .into_iter()
        .find(|c| c["kind"] == "xgboost" && c["name"].as_str().unwrap().contains("bin"))
        .expect("an XGBoost binary classifier among the fixtures");
    let file = case["files"][0].as_str().unwrap().to_string();
    let model = NativeModel::load(&file, &std::fs::read(dir().join(&file)).unwrap()).unwrap();
    let (shape, x) = array(&case["arrays"]["x"]);
    // The fixture's rows 40 times over.
    let copies = 40;
    let big: Vec<f64> = (0..copies).flat_map(|_| x.iter().copied()).collect();
    let input = || fp32("input", vec![shape[0] * copies, shape[1]], &big);
    for threads in [1, 3] {
        let full: Vec<Duration> = (0..3)
            .map(|_| {
                let started = Instant::now();
                model.run_with(vec![input()], threads).unwrap();
                started.elapsed()
            })
            .collect();
        let full = *full.iter().min().unwrap();
        assert!(
            model.run_within(vec![input()], threads, full * 20).is_ok(),
            "{threads} thread(s): a limit well above the run's time stops nothing"
        );
        // A quarter of the run: the operator has started, and is stopped between chunks.
        let err = model
            .run_within(vec![input()], threads, full / 4)
            .unwrap_err();
        assert!(
            err.to_string().contains("ran past the call deadline"),
            "{threads} thread(s), full run {full:?}: {err}"
        );
    }
}
