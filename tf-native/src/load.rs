//! From files to a typed tract graph: a SavedModel directory (TF Serving's `MODEL/VERSION`
//! layout, read through [`ModelFiles`]) or a frozen GraphDef's bytes become an optimized
//! [`TypedModel`] whose inputs and outputs are the signature's: each input node is named by
//! its signature key and each output outlet labelled with its key, as TF Serving names them.
//! Unknown dimensions become symbols (the first one `N`, the batch), so one plan serves any
//! batch size.

use std::collections::{HashMap, HashSet};
use std::panic::{AssertUnwindSafe, catch_unwind};

use prost::Message;
use tract_tensorflow::tract_hir::internal::*;

use crate::bundle::Bundle;
use crate::error::{Result, TfError};
use crate::files::ModelFiles;
use crate::freeze::{FrozenGraph, freeze};
use crate::protos::{DataType, GraphDef, NodeDef, SavedModel, attr_value};
use crate::signature::{Signature, TensorSpec, normalize_tensor, pick, serving_meta_graph};

/// saved_model.pb and frozen GraphDef files above this size are refused rather than read.
pub const MAX_PROTO_BYTES: u64 = 2 << 30;
/// The graph file of a SavedModel directory.
pub const SAVED_MODEL_PB: &str = "saved_model.pb";
/// The variables bundle's prefix inside a SavedModel directory.
pub const VARIABLES_PREFIX: &str = "variables/variables";

/// A signature of a model as an optimized tract graph, ready to plan.
#[derive(Debug)]
pub struct TfGraph {
    pub signature: Signature,
    /// Inputs in the order of `signature.inputs`, outputs in that of `signature.outputs`.
    pub model: TypedModel,
    /// Every readable signature of the SavedModel (the served one included), for metadata;
    /// empty for a frozen GraphDef, which has none.
    pub signatures: Vec<Signature>,
}

/// The tract-tensorflow front end with our ops registered.
pub fn tensorflow() -> tract_tensorflow::Tensorflow {
    let mut tf = tract_tensorflow::tensorflow();
    crate::ops::register(&mut tf.op_register);
    tf
}

/// Reads and decodes `saved_model.pb` of `files`.
pub fn read_saved_model(files: &dyn ModelFiles) -> Result<SavedModel> {
    let bytes = files
        .read(SAVED_MODEL_PB, MAX_PROTO_BYTES)
        .map_err(|source| TfError::Io {
            path: SAVED_MODEL_PB.into(),
            source,
        })?;
    SavedModel::decode(bytes.as_slice()).map_err(|source| TfError::Proto {
        path: SAVED_MODEL_PB.into(),
        what: "SavedModel",
        source,
    })
}

/// Signature `signature` (default `serving_default`) of the SavedModel in `files`, frozen
/// and typed.
pub fn saved_model_graph(files: &dyn ModelFiles, signature: Option<&str>) -> Result<TfGraph> {
    let saved = read_saved_model(files)?;
    let meta = serving_meta_graph(&saved)?;
    let sig = pick(meta, signature)?;
    let bundle = open_bundle(files)?;
    let frozen = freeze(meta, &sig, bundle.as_ref())?;
    let mut graph = typed(frozen, sig)?;
    graph.signatures = crate::signature::all(meta);
    Ok(graph)
}

/// The variables bundle of the SavedModel in `files`, if it has one.
pub(crate) fn open_bundle(files: &dyn ModelFiles) -> Result<Option<Bundle<'_>>> {
    let index = format!("{VARIABLES_PREFIX}.index");
    if files.exists(&index) {
        Ok(Some(Bundle::open(files, VARIABLES_PREFIX)?))
    } else {
        Ok(None)
    }
}

/// Decodes a frozen GraphDef (`source` names it in errors).
pub fn decode_graph(source: &str, bytes: &[u8]) -> Result<GraphDef> {
    GraphDef::decode(bytes).map_err(|source_err| TfError::Proto {
        path: source.into(),
        what: "GraphDef",
        source: source_err,
    })
}

/// A frozen GraphDef, its inputs and outputs given as `node[:index]` tensor names; each is
/// keyed by the name as given.
pub fn frozen_graph(graph: GraphDef, inputs: &[&str], outputs: &[&str]) -> Result<TfGraph> {
    let by_name: HashMap<&str, &NodeDef> =
        graph.node.iter().map(|n| (n.name.as_str(), n)).collect();
    let input = |t: &&str| -> Result<TensorSpec> {
        let tensor = normalize_tensor(t);
        let node = tensor.rsplit_once(':').map(|(n, _)| n).unwrap_or_default();
        let n = by_name
            .get(node)
            .ok_or_else(|| TfError::Input(format!("no node {node:?} in the graph")))?;
        Ok(placeholder_spec(n))
    };
    let inputs = inputs.iter().map(input).collect::<Result<Vec<_>>>()?;
    let outputs = outputs
        .iter()
        .map(|t| TensorSpec {
            key: t.to_string(),
            tensor: normalize_tensor(t),
            dtype: DataType::DtInvalid,
            shape: None,
        })
        .collect();
    frozen_with(graph, inputs, outputs)
}

/// A frozen GraphDef served whole: its `Placeholder`s are the inputs, keyed by node name, and
/// the first output of every node nothing else reads (but constants and no-ops) the outputs,
/// keyed by node name.
pub fn frozen_graph_inferred(graph: GraphDef) -> Result<TfGraph> {
    let consumed: HashSet<&str> = graph
        .node
        .iter()
        .flat_map(|n| n.input.iter())
        .map(|i| {
            let i = i.trim_start_matches('^');
            i.split(':').next().unwrap_or(i)
        })
        .collect();
    let inputs: Vec<TensorSpec> = graph
        .node
        .iter()
        .filter(|n| n.op == "Placeholder")
        .map(placeholder_spec)
        .collect();
    let outputs: Vec<TensorSpec> = graph
        .node
        .iter()
        .filter(|n| !consumed.contains(n.name.as_str()))
        .filter(|n| !matches!(n.op.as_str(), "Placeholder" | "Const" | "NoOp" | "Assert"))
        .map(|n| TensorSpec {
            key: n.name.clone(),
            tensor: format!("{}:0", n.name),
            dtype: DataType::DtInvalid,
            shape: None,
        })
        .collect();
    if outputs.is_empty() {
        return Err(TfError::Freeze(
            "the graph has no output: every node's result is read by another".into(),
        ));
    }
    frozen_with(graph, inputs, outputs)
}

fn frozen_with(
    graph: GraphDef,
    inputs: Vec<TensorSpec>,
    outputs: Vec<TensorSpec>,
) -> Result<TfGraph> {
    let sig = Signature {
        name: String::new(),
        method_name: String::new(),
        inputs,
        outputs,
    };
    let frozen = FrozenGraph {
        inputs: sig
            .inputs
            .iter()
            .map(|s| {
                s.tensor
                    .rsplit_once(':')
                    .map_or(&*s.tensor, |(n, _)| n)
                    .to_string()
            })
            .collect(),
        outputs: sig.outputs.iter().map(|s| s.tensor.clone()).collect(),
        graph,
    };
    typed(frozen, sig)
}

/// A placeholder's declared dtype and shape, keyed by its node name.
fn placeholder_spec(n: &NodeDef) -> TensorSpec {
    let dtype = match n.attr.get("dtype").and_then(|a| a.value.as_ref()) {
        Some(attr_value::Value::Type(t)) => DataType::try_from(*t).unwrap_or(DataType::DtInvalid),
        _ => DataType::DtInvalid,
    };
    let shape = match n.attr.get("shape").and_then(|a| a.value.as_ref()) {
        Some(attr_value::Value::Shape(s)) if !s.unknown_rank => {
            Some(s.dim.iter().map(|d| d.size).collect())
        }
        _ => None,
    };
    TensorSpec {
        key: n.name.clone(),
        tensor: format!("{}:0", n.name),
        dtype,
        shape,
    }
}

/// Hands the frozen graph to tract. Missing ops are refused first, by name and node; then
/// tract-tensorflow parses and optimizes it under `catch_unwind`, a last line of defence
/// against attributes it unwraps.
pub(crate) fn typed(frozen: FrozenGraph, sig: Signature) -> Result<TfGraph> {
    let tf = tensorflow();
    crate::missing::check_attrs(&frozen.graph)?;
    crate::missing::check_ops(&frozen.graph, &tf.op_register)?;
    let model = catch_unwind(AssertUnwindSafe(|| -> Result<TypedModel> {
        let mut model = tf.parse_graph(&frozen.graph).map_err(TfError::tract)?.0;
        let outlet = |model: &InferenceModel, t: &str| -> Result<OutletId> {
            let (node, slot) = t.rsplit_once(':').unwrap_or((t, "0"));
            let slot = slot
                .parse()
                .map_err(|_| TfError::Freeze(format!("bad tensor {t:?}")))?;
            let id = model.node_id_by_name(node).map_err(TfError::tract)?;
            Ok(OutletId::new(id, slot))
        };
        let inputs = (frozen.inputs.iter())
            .map(|n| outlet(&model, n))
            .collect::<Result<Vec<_>>>()?;
        let outputs = (frozen.outputs.iter())
            .map(|n| outlet(&model, n))
            .collect::<Result<Vec<_>>>()?;
        model.set_input_outlets(&inputs).map_err(TfError::tract)?;
        model
            .select_output_outlets(&outputs)
            .map_err(TfError::tract)?;
        for (i, spec) in sig.inputs.iter().enumerate() {
            let fact = input_fact(&mut model, i, spec)?;
            model.set_input_fact(i, fact).map_err(TfError::tract)?;
            rename(&mut model, inputs[i].node, &spec.key);
        }
        for (spec, &o) in sig.outputs.iter().zip(&outputs) {
            model
                .set_outlet_label(o, spec.key.clone())
                .map_err(TfError::tract)?;
        }
        model.into_optimized().map_err(TfError::tract)
    }))
    .map_err(|p| TfError::Tract(format!("tract-tensorflow panicked: {}", panic_text(&p))))??;
    Ok(TfGraph {
        signature: sig,
        model,
        signatures: Vec::new(),
    })
}

/// Names node `id` `name`, moving aside any other node of that name.
fn rename(model: &mut InferenceModel, id: usize, name: &str) {
    if let Some(other) = model
        .nodes()
        .iter()
        .position(|n| n.name == name && n.id != id)
    {
        let mut aside = format!("{name}.graph");
        while model.nodes().iter().any(|n| n.name == aside) {
            aside.push('_');
        }
        model.node_mut(other).name = aside;
    }
    model.node_mut(id).name = name.to_string();
}

pub(crate) fn panic_text(p: &Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// The input's type from the signature, unknown dimensions as symbols.
fn input_fact(model: &mut InferenceModel, i: usize, spec: &TensorSpec) -> Result<InferenceFact> {
    let dt = DatumType::try_from(spec.dtype).map_err(|_| {
        TfError::Input(format!(
            "input {:?} has dtype {:?}, not supported",
            spec.key, spec.dtype
        ))
    })?;
    let Some(dims) = spec.shape.clone() else {
        return Ok(InferenceFact::dt(dt));
    };
    let dims: TVec<TDim> = dims
        .iter()
        .enumerate()
        .map(|(axis, &d)| {
            if d >= 0 {
                TDim::from(d)
            } else {
                let name = if axis == 0 {
                    "N".to_string()
                } else {
                    format!("d{i}_{axis}")
                };
                model.symbols.sym(&name).to_dim()
            }
        })
        .collect();
    Ok(InferenceFact::dt_shape(dt, dims))
}
