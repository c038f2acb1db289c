//! Fixture reading shared by the tests and the benchmark binary: the manifest written by
//! `scripts/make.py`, its raw little-endian arrays, and ONNX tree attributes dumped as JSON.
#![allow(dead_code)]

use std::path::PathBuf;

use serde_json::Value;
use tree_ensemble::Forest;
use tree_ensemble::onnx_attrs::{self, TreeAttributes, TreeEnsembleV5Attributes};

/// `$TREE_FIXTURES`, or `<workspace>/target/tree-fixtures` where scripts/setup.sh writes them.
pub fn dir() -> PathBuf {
    std::env::var_os("TREE_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join("target")
                .join("tree-fixtures")
        })
}

/// The fixture cases; a missing manifest fails the test (the fixtures are a prerequisite
/// that scripts/setup.sh builds, never a reason to skip).
pub fn manifest() -> Vec<Value> {
    let path = dir().join("manifest.json");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read the tree fixtures at {}: {e}; run scripts/setup.sh (it generates them \
             with tree-ensemble/scripts/make.py), or point TREE_FIXTURES at a directory it wrote",
            path.display()
        )
    });
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub struct Array {
    pub shape: Vec<usize>,
    pub f32s: Vec<f32>,
    pub i64s: Vec<i64>,
}

pub fn array(case: &Value, key: &str) -> Option<Array> {
    let a = case["arrays"].get(key)?;
    let bytes = std::fs::read(dir().join(a["file"].as_str().unwrap())).unwrap();
    let shape: Vec<usize> = a["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    let (mut f32s, mut i64s) = (Vec::new(), Vec::new());
    match a["dtype"].as_str().unwrap() {
        "float32" => {
            f32s = bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                .collect()
        }
        "int64" => {
            i64s = bytes
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
                .collect()
        }
        d => panic!("dtype {d}"),
    }
    Some(Array { shape, f32s, i64s })
}

fn ints(v: Option<&Value>) -> Vec<i64> {
    v.and_then(|v| v.as_array())
        .map(|a| a.iter().map(|x| x.as_i64().unwrap()).collect())
        .unwrap_or_default()
}
fn floats(v: Option<&Value>) -> Vec<f64> {
    let v = match v {
        Some(Value::Object(o)) => o.get("tensor"),
        v => v,
    };
    let one = |x: &Value| match x.as_str() {
        Some("inf") => f64::INFINITY,
        Some("-inf") => f64::NEG_INFINITY,
        _ => x.as_f64().unwrap_or(f64::NAN),
    };
    v.and_then(|v| v.as_array())
        .map(|a| a.iter().map(one).collect())
        .unwrap_or_default()
}
fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(|v| v.as_array())
        .map(|a| a.iter().map(|x| x.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

pub fn load_onnx(case: &Value) -> Forest {
    let a = &case["attributes"];
    let op = case["op_type"].as_str().unwrap();
    if op == "TreeEnsemble" {
        let v5 = TreeEnsembleV5Attributes {
            aggregate_function: a.get("aggregate_function").and_then(|v| v.as_i64()),
            leaf_targetids: ints(a.get("leaf_targetids")),
            leaf_weights: floats(a.get("leaf_weights")),
            membership_values: floats(a.get("membership_values")),
            n_targets: a.get("n_targets").and_then(|v| v.as_i64()),
            nodes_falseleafs: ints(a.get("nodes_falseleafs")),
            nodes_falsenodeids: ints(a.get("nodes_falsenodeids")),
            nodes_featureids: ints(a.get("nodes_featureids")),
            nodes_missing_value_tracks_true: ints(a.get("nodes_missing_value_tracks_true")),
            nodes_modes: floats(a.get("nodes_modes"))
                .into_iter()
                .map(|v| v as i64)
                .collect(),
            nodes_splits: floats(a.get("nodes_splits")),
            nodes_trueleafs: ints(a.get("nodes_trueleafs")),
            nodes_truenodeids: ints(a.get("nodes_truenodeids")),
            // onnxruntime 1.32 reads opset-5 post_transform 1 as LOGISTIC and 2 as SOFTMAX, the
            // reverse of the ONNX specification that the engine follows; swap to compare.
            post_transform: a
                .get("post_transform")
                .and_then(|v| v.as_i64())
                .map(|p| match p {
                    1 => 2,
                    2 => 1,
                    p => p,
                }),
            tree_roots: ints(a.get("tree_roots")),
        };
        return onnx_attrs::tree_ensemble_v5(&v5)
            .unwrap_or_else(|e| panic!("{}: {e}", case["name"]));
    }
    let w = if op == "TreeEnsembleClassifier" {
        "class"
    } else {
        "target"
    };
    let f32v = |k: &str| {
        floats(a.get(k))
            .into_iter()
            .map(|v| v as f32)
            .collect::<Vec<f32>>()
    };
    let attrs = TreeAttributes {
        nodes_treeids: ints(a.get("nodes_treeids")),
        nodes_nodeids: ints(a.get("nodes_nodeids")),
        nodes_featureids: ints(a.get("nodes_featureids")),
        nodes_values: f32v("nodes_values"),
        nodes_values_as_tensor: floats(a.get("nodes_values_as_tensor")),
        nodes_modes: strings(a.get("nodes_modes")),
        nodes_truenodeids: ints(a.get("nodes_truenodeids")),
        nodes_falsenodeids: ints(a.get("nodes_falsenodeids")),
        nodes_missing_value_tracks_true: ints(a.get("nodes_missing_value_tracks_true")),
        weight_treeids: ints(a.get(format!("{w}_treeids"))),
        weight_nodeids: ints(a.get(format!("{w}_nodeids"))),
        weight_ids: ints(a.get(format!("{w}_ids"))),
        weights: f32v(&format!("{w}_weights")),
        weights_as_tensor: floats(a.get(format!("{w}_weights_as_tensor"))),
        classlabels_int64s: ints(a.get("classlabels_int64s")),
        classlabels_strings: strings(a.get("classlabels_strings")),
        base_values: f32v("base_values"),
        base_values_as_tensor: floats(a.get("base_values_as_tensor")),
        n_targets: a.get("n_targets").and_then(|v| v.as_i64()),
        post_transform: a
            .get("post_transform")
            .and_then(|v| v.as_str())
            .map(String::from),
        aggregate_function: a
            .get("aggregate_function")
            .and_then(|v| v.as_str())
            .map(String::from),
    };
    let r = if op == "TreeEnsembleClassifier" {
        onnx_attrs::classifier(&attrs)
    } else {
        onnx_attrs::regressor(&attrs)
    };
    r.unwrap_or_else(|e| panic!("{}: {e}", case["name"]))
}
