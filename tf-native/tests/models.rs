//! Each generated model, loaded from its SavedModel without TensorFlow, must reproduce
//! TensorFlow's own outputs on the same 200 inputs (max abs diff ≤ 1e-4, argmax equal).

mod common;

use common::*;
use tf_native::TfModel;

fn check(case_name: &str) {
    let case = case(case_name);
    let dir = fixtures().join(case["dir"].as_str().unwrap());
    let model = TfModel::load_dir(&dir, Some(case["signature"].as_str().unwrap()))
        .unwrap_or_else(|e| panic!("{case_name}: {e}"));
    let inputs: Vec<_> = model
        .signature
        .inputs
        .iter()
        .map(|spec| array(case_name, &case["inputs"][&spec.key]))
        .collect();
    let outputs = model
        .run(inputs)
        .unwrap_or_else(|e| panic!("{case_name}: {e}"));
    assert_eq!(outputs.len(), case["outputs"].as_object().unwrap().len());
    for (spec, ours) in model.signature.outputs.iter().zip(&outputs) {
        let theirs = array(case_name, &case["outputs"][&spec.key]);
        let (diff, argmax) = compare(ours, &theirs);
        eprintln!(
            "{case_name}/{}: max abs diff {diff:e}, argmax equal {argmax}",
            spec.key
        );
        assert!(
            diff <= TOLERANCE,
            "{case_name}/{}: max abs diff {diff}",
            spec.key
        );
        assert!(argmax, "{case_name}/{}: argmax differs", spec.key);
    }
}

macro_rules! cases {
    ($($name:ident),*) => { $( #[test] fn $name() { check(stringify!($name)); } )* };
}

cases!(
    mlp_export,
    mlp_tfsave,
    cnn_export,
    cnn_tfsave,
    two_io_export,
    two_io_tfsave
);
cases!(text_export, text_tfsave, attention_export, attention_tfsave);
cases!(lstm_export, lstm_tfsave, gru_export, gru_tfsave);

#[test]
fn mlp_frozen_graphdef() {
    let m = manifest();
    let f = &m["frozen"][0];
    let path = fixtures().join(f["file"].as_str().unwrap());
    let ins: Vec<&str> = f["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let outs: Vec<&str> = f["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let model = TfModel::load_frozen(&std::fs::read(&path).unwrap(), &ins, &outs).unwrap();
    let out = model.run(vec![array("mlp_frozen", &f["input"])]).unwrap();
    let (diff, argmax) = compare(&out[0], &array("mlp_frozen", &f["output"]));
    eprintln!("mlp_frozen: max abs diff {diff:e}");
    assert!(diff <= TOLERANCE && argmax);
}

/// Served whole, a frozen graph's placeholders are its inputs and its unread nodes its
/// outputs, each keyed by node name.
#[test]
fn frozen_graphdef_inputs_and_outputs_are_inferred() {
    let m = manifest();
    let f = &m["frozen"][0];
    let bytes = std::fs::read(fixtures().join(f["file"].as_str().unwrap())).unwrap();
    let graph = tf_native::load::decode_graph("mlp_frozen.pb", &bytes).unwrap();
    let model = TfModel::plan(tf_native::frozen_graph_inferred(graph).unwrap()).unwrap();
    let node = |v: &serde_json::Value| v.as_str().unwrap().split(':').next().unwrap().to_string();
    let keys = |specs: &[tf_native::signature::TensorSpec]| -> Vec<String> {
        specs.iter().map(|s| s.key.clone()).collect()
    };
    assert_eq!(keys(&model.signature.inputs), [node(&f["inputs"][0])]);
    assert_eq!(keys(&model.signature.outputs), [node(&f["outputs"][0])]);
    let out = model.run(vec![array("mlp_frozen", &f["input"])]).unwrap();
    let (diff, argmax) = compare(&out[0], &array("mlp_frozen", &f["output"]));
    assert!(diff <= TOLERANCE && argmax, "{diff}");
}
