//! TF2 While loops with TensorLists, unrolled at load: a hand-built loop computes what it
//! should, Keras' LSTM reads each weight once after unrolling, and loops that cannot be unrolled
//! (a body missing from the library, a trip count known only at run time or too large, a list
//! slot stacked before it is written) are refused with the loop named, never a panic.

mod common;

use std::collections::HashMap;
use std::path::Path;

use common::{copy_fixture, edit};
use prost::Message;
use tf_native::protos::attr_value::{ListValue, Value};
use tf_native::protos::op_def::ArgDef;
use tf_native::protos::*;
use tf_native::{TfError, TfModel};
use tract_tensorflow::tract_hir::internal::*;

fn node(name: &str, op: &str, inputs: &[&str], attrs: Vec<(&str, Value)>) -> NodeDef {
    NodeDef {
        name: name.into(),
        op: op.into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        attr: attrs
            .into_iter()
            .map(|(k, v)| (k.to_string(), AttrValue { value: Some(v) }))
            .collect(),
        ..Default::default()
    }
}

fn int_const(name: &str, v: i32) -> NodeDef {
    let t = TensorProto {
        dtype: DataType::DtInt32 as i32,
        tensor_shape: Some(TensorShapeProto::default()),
        int_val: vec![v],
        ..Default::default()
    };
    let dt = Value::Type(DataType::DtInt32 as i32);
    node(
        name,
        "Const",
        &[],
        vec![("dtype", dt), ("value", Value::Tensor(t))],
    )
}

fn func(name: &str) -> Value {
    Value::Func(NameAttrList {
        name: name.into(),
        ..Default::default()
    })
}

fn float() -> Value {
    Value::Type(DataType::DtFloat as i32)
}

fn function(
    name: &str,
    args: &[(&str, DataType)],
    outs: &[&str],
    nodes: Vec<NodeDef>,
    ret: &[(&str, &str)],
) -> FunctionDef {
    let arg = |n: &str, t: DataType| ArgDef {
        name: n.into(),
        r#type: t as i32,
        ..Default::default()
    };
    FunctionDef {
        signature: Some(OpDef {
            name: name.into(),
            input_arg: args.iter().map(|(n, t)| arg(n, *t)).collect(),
            output_arg: outs.iter().map(|n| arg(n, DataType::DtFloat)).collect(),
            ..Default::default()
        }),
        node_def: nodes,
        ret: ret
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..Default::default()
    }
}

/// The graph and library of that loop; with `recursive`, the body also runs the loop itself.
fn hand_built(recursive: bool) -> (Vec<NodeDef>, Vec<FunctionDef>) {
    let args = [
        ("i", DataType::DtInt32),
        ("acc", DataType::DtFloat),
        ("list", DataType::DtVariant),
        ("x", DataType::DtFloat),
    ];
    let names: Vec<&str> = args.iter().map(|a| a.0).collect();
    let f32_attr = || vec![("T", float())];
    let body = function(
        "body",
        &args,
        &names,
        vec![
            int_const("one", 1),
            node(
                "i1",
                "AddV2",
                &["i", "one:output:0"],
                vec![("T", Value::Type(DataType::DtInt32 as i32))],
            ),
            node("acc1", "AddV2", &["acc", "x"], f32_attr()),
            node(
                "inner",
                if recursive { "While" } else { "NoOp" },
                if recursive {
                    &["i", "acc", "list", "x"]
                } else {
                    &[]
                },
                vec![("body", func("body")), ("cond", func("cond"))],
            ),
            node(
                "set",
                "TensorListSetItem",
                &["list", "i", "acc1:z:0"],
                vec![("element_dtype", float())],
            ),
        ],
        &[
            ("i", "i1:z:0"),
            ("acc", "acc1:z:0"),
            ("list", "set:output_handle:0"),
            ("x", "x"),
        ],
    );
    let cond = function(
        "cond",
        &args,
        &["go"],
        vec![
            int_const("limit", 3),
            node(
                "less",
                "Less",
                &["i", "limit:output:0"],
                vec![("T", Value::Type(DataType::DtInt32 as i32))],
            ),
        ],
        &[("go", "less:z:0")],
    );
    let shape = TensorShapeProto {
        dim: [-1, 3]
            .iter()
            .map(|&size| tensor_shape_proto::Dim {
                size,
                name: String::new(),
            })
            .collect(),
        unknown_rank: false,
    };
    let types = [
        DataType::DtInt32,
        DataType::DtFloat,
        DataType::DtVariant,
        DataType::DtFloat,
    ];
    let nodes = vec![
        node(
            "x",
            "Placeholder",
            &[],
            vec![("dtype", float()), ("shape", Value::Shape(shape))],
        ),
        int_const("i0", 0),
        int_const("shape", -1),
        int_const("n", 3),
        node(
            "ta",
            "TensorListReserve",
            &["shape:0", "n:0"],
            vec![("element_dtype", float())],
        ),
        node(
            "loop",
            "While",
            &["i0:0", "x:0", "ta:0", "x:0"],
            vec![
                (
                    "T",
                    Value::List(ListValue {
                        r#type: types.iter().map(|t| *t as i32).collect(),
                        ..Default::default()
                    }),
                ),
                ("body", func("body")),
                ("cond", func("cond")),
            ],
        ),
        node(
            "stack",
            "TensorListStack",
            &["loop:2", "shape:0"],
            vec![("element_dtype", float())],
        ),
    ];
    (nodes, vec![body, cond])
}

/// `acc` starts at x and adds x on each of 3 trips, writing each new `acc` to slot `i` of a
/// list, stacked after the loop: outputs 4x and [2x, 3x, 4x].
#[test]
fn hand_built_loop_unrolls_and_runs() {
    let (nodes, library) = hand_built(false);
    let outputs = ["loop:1".to_string(), "stack:0".to_string()];
    let (nodes, outputs) =
        tf_native::loops::translate(nodes, &outputs, &library, &HashMap::new()).unwrap();
    assert!(
        nodes
            .iter()
            .all(|n| n.op != "While" && !n.op.starts_with("TensorList"))
    );
    let bytes = GraphDef {
        node: nodes,
        ..Default::default()
    }
    .encode_to_vec();
    let outs: Vec<&str> = outputs.iter().map(|s| s.as_str()).collect();
    let model = TfModel::load_frozen(&bytes, &["x"], &outs).unwrap();
    let x = tensor2(&[[1f32, -2., 0.5], [3., 0., -1.]]);
    let out = model.run(vec![x.clone()]).unwrap();
    let xs = x.to_plain_array_view::<f32>().unwrap();
    assert_eq!(
        out[0].to_plain_array_view::<f32>().unwrap(),
        xs.mapv(|v| 4. * v)
    );
    let stacked = out[1].to_plain_array_view::<f32>().unwrap();
    assert_eq!(stacked.shape(), &[3, 2, 3]);
    for k in 0..3 {
        assert_eq!(
            stacked.index_axis(tract_ndarray::Axis(0), k),
            xs.mapv(|v| (k as f32 + 2.) * v)
        );
    }
}

#[test]
fn loop_running_itself_is_refused() {
    let (nodes, library) = hand_built(true);
    let outputs = ["loop:1".to_string()];
    let err = tf_native::loops::translate(nodes, &outputs, &library, &HashMap::new()).unwrap_err();
    eprintln!("refused: {err}");
    assert!(err.to_string().contains("loops nest deeper than"), "{err}");
}

fn load(dir: &Path) -> Result<TfModel, TfError> {
    TfModel::load_dir(dir, None)
}

/// Applies `f` to every node of every library function of a model directory's graph.
fn edit_functions(dir: &Path, mut f: impl FnMut(&mut NodeDef)) {
    edit(dir, "saved_model.pb", |b| {
        let mut saved = SavedModel::decode(b.as_slice()).unwrap();
        let graph = saved.meta_graphs[0].graph_def.as_mut().unwrap();
        for func in &mut graph.library.as_mut().unwrap().function {
            func.node_def.iter_mut().for_each(&mut f);
        }
        *b = saved.encode_to_vec();
    });
}

fn set_int(n: &mut NodeDef, v: i32) {
    if let Some(Value::Tensor(t)) = n.attr.get_mut("value").and_then(|a| a.value.as_mut()) {
        t.int_val = vec![v];
        t.tensor_content.clear();
    }
}

fn refused(dir: &Path, wanted: &[&str]) {
    let err = load(dir).unwrap_err();
    let text = err.to_string();
    eprintln!("refused: {text}");
    assert!(matches!(err, TfError::Loop(_)), "{text}");
    for w in wanted {
        assert!(text.contains(w), "{w:?} not in: {text}");
    }
}

#[test]
fn unrolled_lstm_reads_each_weight_once() {
    let dir = common::fixtures().join("lstm_export/1");
    let files = tf_native::DirFiles::new(&dir);
    let saved = tf_native::load::read_saved_model(&files).unwrap();
    let meta = tf_native::signature::serving_meta_graph(&saved).unwrap();
    let sig = tf_native::signature::pick(meta, None).unwrap();
    let bundle = tf_native::bundle::Bundle::open(&files, "variables/variables").unwrap();
    let frozen = tf_native::freeze::freeze(meta, &sig, Some(&bundle)).unwrap();
    let ops: Vec<&str> = frozen.graph.node.iter().map(|n| n.op.as_str()).collect();
    assert!(
        ops.iter()
            .all(|op| *op != "While" && !op.starts_with("TensorList")),
        "{ops:?}"
    );
    // LSTM kernel, recurrent kernel, bias; Dense kernel, bias: one constant each, not one per trip.
    let reads = frozen
        .graph
        .node
        .iter()
        .filter(|n| n.op == "Const" && n.name.ends_with("ReadVariableOp"))
        .count();
    assert_eq!(reads, 5);
}

#[test]
fn loop_body_missing_from_library() {
    let dir = copy_fixture("lstm_export", "no-body");
    edit_functions(&dir, |n| {
        if n.op == "While" {
            n.attr.insert(
                "body".into(),
                AttrValue {
                    value: Some(Value::Func(NameAttrList {
                        name: "no_such_body".into(),
                        ..Default::default()
                    })),
                },
            );
        }
    });
    refused(&dir, &["While", "no_such_body", "missing from the library"]);
}

#[test]
fn trip_count_known_only_at_run_time() {
    let dir = copy_fixture("lstm_export", "dyn-trips");
    // The loop's `max` becomes the batch size, read from the input's shape.
    let mut batch = String::new();
    edit_functions(&dir, |n| {
        if n.op == "StridedSlice" && n.input[0].ends_with("lstm_1/Shape:output:0") {
            batch = format!("{}:output:0", n.name);
        }
    });
    assert!(!batch.is_empty(), "no batch size in the LSTM graph");
    edit_functions(&dir, |n| {
        if n.op == "While" {
            n.input[1] = batch.clone();
        }
    });
    refused(&dir, &["While", "trip count is not constant"]);
}

#[test]
fn too_many_trips() {
    let dir = copy_fixture("lstm_export", "many-trips");
    edit_functions(&dir, |n| {
        if n.name.ends_with("lstm_1/Max/input") || n.name.ends_with("lstm_1/while/Less/y") {
            set_int(n, 1_000_000);
        }
    });
    refused(&dir, &["While", "more than 4096"]);
}

#[test]
fn stacking_a_slot_never_written() {
    let dir = copy_fixture("lstm_export", "unset-slot");
    // The output list gets 3 slots; the loop only ever writes slot 0, and its element shape
    // [-1, units] is not fully known.
    edit_functions(&dir, |n| {
        if n.name.ends_with("lstm_1/TensorArrayV2_1/num_elements") {
            set_int(n, 3);
        }
    });
    refused(&dir, &["TensorListStack", "element 1 is never written"]);
}
