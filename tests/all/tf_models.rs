//! TensorFlow models served natively, with no TensorFlow: every fixture model (Keras
//! `model.export` and `tf.saved_model.save` of an MLP, a CNN, a two-input two-output model,
//! an embedding text model, an attention block with exact gelu, an LSTM and a GRU, plus a
//! frozen GraphDef) deployed in TF Serving's layout and asked over V1 and V2 for the same 200
//! inputs TensorFlow answered: max abs diff ≤ 1e-4 and equal argmax. A KServe storage folder
//! with no definition is served; a graph at zero is unloaded and loaded again; damaged models
//! (saved_model.pb, bundle, shards, signature, an op we lack, a `.keras` file) fail their
//! deployment alone with a reason naming the fault.
//!
//! Fixtures: `target/tf-fixtures` (made by `tf-native/scripts/make.py` with tensorflow-cpu,
//! run by scripts/setup.sh): `CASE/1/` SavedModels, `mlp_frozen.pb`, and TensorFlow's own
//! inputs and outputs as raw little-endian arrays described by `manifest.json`.

use predictor_runtime::ServeOptions;
use predictor_tests::{DeploymentDir, TestServer, root};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;

const TOLERANCE: f64 = 1e-4;

pub(crate) fn fixtures() -> PathBuf {
    let dir = root().join("target/tf-fixtures");
    assert!(
        dir.join("manifest.json").is_file(),
        "{} has no manifest.json: run scripts/setup.sh (it makes the TensorFlow fixtures)",
        dir.display()
    );
    dir
}

pub(crate) fn manifest() -> Value {
    serde_json::from_slice(&std::fs::read(fixtures().join("manifest.json")).unwrap()).unwrap()
}

/// An array of the fixtures: its shape, its values, and its V2 datatype.
type Array = (Vec<usize>, Vec<f64>, &'static str);

/// The array `desc` (`file`, `dtype`, `shape`) of `data/CASE/`.
fn array(case: &str, desc: &Value) -> Array {
    let bytes = std::fs::read(
        fixtures()
            .join("data")
            .join(case)
            .join(desc["file"].as_str().unwrap()),
    )
    .unwrap();
    let shape: Vec<usize> = desc["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap() as usize)
        .collect();
    let words = bytes.chunks_exact(4).map(|c| c.try_into().unwrap());
    let (values, datatype): (Vec<f64>, _) = match desc["dtype"].as_str().unwrap() {
        "float32" => (
            words.map(|w| f32::from_le_bytes(w) as f64).collect(),
            "FP32",
        ),
        "int32" => (
            words.map(|w| i32::from_le_bytes(w) as f64).collect(),
            "INT32",
        ),
        other => panic!("fixture dtype {other}"),
    };
    assert_eq!(values.len(), shape.iter().product::<usize>(), "{case}");
    (shape, values, datatype)
}

/// `values` of `shape` as nested JSON arrays, one per row of the first axis.
fn rows(shape: &[usize], values: &[f64], datatype: &str) -> Vec<Value> {
    let number = |v: f64| {
        if datatype == "INT32" {
            json!(v as i64)
        } else {
            json!(v)
        }
    };
    fn nest(shape: &[usize], values: &[f64], number: &dyn Fn(f64) -> Value) -> Value {
        match shape {
            [] => number(values[0]),
            [_] => Value::Array(values.iter().map(|&v| number(v)).collect()),
            [n, rest @ ..] => {
                let step = values.len() / n;
                Value::Array(values.chunks(step).map(|c| nest(rest, c, number)).collect())
            }
        }
    }
    values
        .chunks(values.len() / shape[0])
        .map(|row| nest(&shape[1..], row, &number))
        .collect()
}

fn flatten(v: &Value, out: &mut Vec<f64>) {
    match v {
        Value::Array(items) => items.iter().for_each(|i| flatten(i, out)),
        Value::Number(n) => out.push(n.as_f64().unwrap()),
        other => panic!("not a number: {other}"),
    }
}

/// Max abs difference of `ours` against TensorFlow's `theirs`, asserting both bounds.
fn assert_matches(what: &str, ours: &[f64], theirs: &[f64], row: usize) {
    assert_eq!(ours.len(), theirs.len(), "{what}: sizes differ");
    let diff = ours
        .iter()
        .zip(theirs)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    let argmax = |s: &[f64]| {
        (0..s.len())
            .max_by(|&a, &b| s[a].total_cmp(&s[b]))
            .unwrap_or(0)
    };
    let same = ours
        .chunks(row)
        .zip(theirs.chunks(row))
        .all(|(a, b)| argmax(a) == argmax(b));
    eprintln!("{what}: max abs diff {diff:e}, argmax equal {same}");
    assert!(diff <= TOLERANCE, "{what}: max abs diff {diff}");
    assert!(same, "{what}: argmax differs");
}

/// The manifest's entry of fixture `name`.
pub(crate) fn fixture_case(name: &str) -> Value {
    manifest()["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["case"] == name)
        .unwrap_or_else(|| panic!("no fixture case {name}"))
        .clone()
}

pub(crate) fn copy_tree(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for entry in std::fs::read_dir(src).unwrap() {
        let entry = entry.unwrap();
        let to = dst.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &to);
        } else {
            std::fs::copy(entry.path(), to).unwrap();
        }
    }
}

/// Resources small enough for every fixture model to fit one test server on a small node.
pub(crate) fn small() -> Value {
    json!({"requests": {"cores": 0.1, "memory": 32}})
}

/// A TF Serving deployment of fixture `case`, its SavedModel as `model/1/`.
pub(crate) fn saved_model_deployment(name: &str, case: &str, extra: Value) -> DeploymentDir {
    let mut definition = json!({"name": name, "model_file": "model", "resources": small(),
        "model_server": "TENSORFLOW_SERVING", "model_framework": "TENSORFLOW"});
    for (k, v) in extra.as_object().unwrap() {
        definition[k] = v.clone();
    }
    let dir = DeploymentDir::new(&definition);
    copy_tree(&fixtures().join(case), &dir.path().join("model"));
    dir
}

fn name_of(case: &str) -> String {
    case.replace('_', "-")
}

/// Asks `name` over V2 then V1 for the case's inputs; checks every output against TF's.
async fn check_case(server: &TestServer, name: &str, case: &Value, platform: &str) {
    check_case_at(server, name, "", case, platform).await;
}

/// [`check_case`] on the model's paths ending in `at` (`/versions/2`, or nothing).
pub(crate) async fn check_case_at(
    server: &TestServer,
    name: &str,
    at: &str,
    case: &Value,
    platform: &str,
) {
    let case_name = case["case"].as_str().unwrap();
    let (status, meta) = server.get(&format!("/v2/models/{name}{at}")).await;
    assert_eq!(status, 200, "{meta}");
    assert_eq!(meta["platform"], platform, "{meta}");
    let names = |v: &Value| -> Vec<String> {
        let mut n: Vec<String> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_string())
            .collect();
        n.sort();
        n
    };
    let keys = |v: &Value| -> Vec<String> {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(names(&meta["inputs"]), keys(&case["inputs"]), "{meta}");
    assert_eq!(names(&meta["outputs"]), keys(&case["outputs"]), "{meta}");

    let inputs: Vec<(String, Array)> = case["inputs"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, d)| (k.clone(), array(case_name, d)))
        .collect();
    let expected: Vec<(String, Array)> = case["outputs"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, d)| (k.clone(), array(case_name, d)))
        .collect();

    let v2 = json!({"inputs": inputs.iter().map(|(k, (shape, values, dt))| {
        json!({"name": k, "datatype": dt, "shape": shape, "data": values.iter().map(|&v| if *dt == "INT32" { json!(v as i64) } else { json!(v) }).collect::<Vec<_>>()})
    }).collect::<Vec<_>>()});
    let (status, body) = server
        .post(&format!("/v2/models/{name}{at}/infer"), &v2)
        .await;
    assert_eq!(status, 200, "{name}: {body}");
    for (key, (shape, values, _)) in &expected {
        let out = body["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["name"] == *key)
            .unwrap_or_else(|| panic!("{name}: no output {key} in {body}"));
        assert_eq!(out["shape"], json!(shape), "{name}/{key}");
        let mut ours = Vec::new();
        flatten(&out["data"], &mut ours);
        assert_matches(
            &format!("{name}/{key} V2"),
            &ours,
            values,
            *shape.last().unwrap(),
        );
    }

    // V1 rows: one input's rows, or one object per row keyed by input.
    let columns: Vec<(String, Vec<Value>)> = inputs
        .iter()
        .map(|(k, (shape, values, dt))| (k.clone(), rows(shape, values, dt)))
        .collect();
    let n = columns[0].1.len();
    let instances: Vec<Value> = (0..n)
        .map(|i| match columns.as_slice() {
            [(_, one)] => one[i].clone(),
            many => Value::Object(
                many.iter()
                    .map(|(k, r)| (k.clone(), r[i].clone()))
                    .collect(),
            ),
        })
        .collect();
    let (status, body) = server
        .post(
            &format!("/v1/models/{name}{at}:predict"),
            &json!({"instances": instances}),
        )
        .await;
    assert_eq!(status, 200, "{name}: {body}");
    let predictions = body["predictions"].as_array().unwrap();
    assert_eq!(predictions.len(), n, "{name}");
    for (key, (shape, values, _)) in &expected {
        let mut ours = Vec::new();
        for p in predictions {
            flatten(if expected.len() == 1 { p } else { &p[key] }, &mut ours);
        }
        assert_matches(
            &format!("{name}/{key} V1"),
            &ours,
            values,
            *shape.last().unwrap(),
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fixture_model_matches_tensorflow_over_v1_and_v2() {
    let m = manifest();
    let cases = m["cases"].as_array().unwrap();
    assert!(
        cases.len() >= 14,
        "{} cases: rerun scripts/setup.sh",
        cases.len()
    );
    let mut dirs: Vec<DeploymentDir> = cases
        .iter()
        .map(|c| {
            let case = c["case"].as_str().unwrap();
            saved_model_deployment(&name_of(case), case, json!({}))
        })
        .collect();
    let frozen = &m["frozen"][0];
    let file = frozen["file"].as_str().unwrap();
    dirs.push(
        DeploymentDir::new(
            &json!({"name": "frozen", "model_file": file, "model_framework": "TENSORFLOW", "resources": small()}),
        )
        .with_file(file, std::fs::read(fixtures().join(file)).unwrap()),
    );
    let server = TestServer::start(&dirs.iter().collect::<Vec<_>>()).await;
    for c in cases {
        let name = name_of(c["case"].as_str().unwrap());
        check_case(&server, &name, c, "tensorflow_savedmodel").await;
    }
    // The frozen graph: its placeholder and its last node, by their node names.
    let node = |t: &Value| t.as_str().unwrap().split(':').next().unwrap().to_string();
    let case = json!({"case": "mlp_frozen",
        "inputs": {node(&frozen["inputs"][0]): frozen["input"]},
        "outputs": {node(&frozen["outputs"][0]): frozen["output"]}});
    check_case(&server, "frozen", &case, "tensorflow_graphdef").await;
    server.stop().await;
}

/// KServe's TensorFlow predictor layout: a storage folder holding `1/saved_model.pb` (and
/// an older version beside it), no definition; the highest version is served.
#[tokio::test]
async fn a_kserve_storage_folder_serves_its_highest_version() {
    let case = fixture_case("cnn_export");
    let storage = tempfile::tempdir().unwrap();
    copy_tree(&fixtures().join("cnn_export/1"), &storage.path().join("7"));
    // Version 2 is another model (the MLP): serving it would fail the comparison.
    copy_tree(&fixtures().join("mlp_export/1"), &storage.path().join("2"));
    let server = TestServer::start_options(ServeOptions {
        data_dir: predictor_tests::shared_data_dir(),
        deploy: vec![storage.path().to_path_buf()],
        model_name: Some("cnn".into()),
        ..Default::default()
    })
    .await;
    check_case(&server, "cnn", &case, "tensorflow_savedmodel").await;
    server.stop().await;
}

fn series(name: &str, deployment: &str) -> String {
    format!("predictor_{name}{{deployment=\"{deployment}\",component=\"predictor\"}}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tensorflow_graph_is_unloaded_at_zero_and_loaded_again() {
    let dir = saved_model_deployment(
        "lstm",
        "lstm_export",
        json!({"scaling_configuration": {"min_instances": 0, "scale_to_zero_retention_seconds": 1}}),
    );
    let server = TestServer::start(&[&dir]).await;
    let case = fixture_case("lstm_export");
    check_case(&server, "lstm", &case, "tensorflow_savedmodel").await;
    let instances = series("instances", "lstm");
    assert_eq!(server.metric(&instances).await, 1.0);
    // Counted from here: on a slow machine the 1 s retention may have passed once already.
    let cold = series("cold_start_seconds_count", "lstm");
    let colds = server.metric(&cold).await;
    server
        .wait_for_metric(&instances, 0.0, Duration::from_secs(10), "never unloaded")
        .await;
    assert_eq!(server.deployment("lstm").lifecycle_state().as_str(), "Idle");
    // Metadata needs no load; the next request loads the SavedModel again.
    let (status, meta) = server.get("/v2/models/lstm").await;
    assert_eq!(status, 200, "{meta}");
    assert_eq!(server.metric(&instances).await, 0.0);
    check_case(&server, "lstm", &case, "tensorflow_savedmodel").await;
    assert_eq!(server.metric(&instances).await, 1.0);
    assert_eq!(server.metric(&cold).await, colds + 1.0);
    server.stop().await;
}
