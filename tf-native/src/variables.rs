//! Maps the graph's variable handles (VarHandleOp nodes) to their checkpoint keys in the
//! bundle. A TF2 signature's call node passes captured variables as its trailing inputs; the
//! SavedObjectGraph lists, for each concrete function, the object ids bound to those inputs
//! (`bound_inputs`), and the TrackableObjectGraph stored in the bundle under
//! `_CHECKPOINTABLE_OBJECT_GRAPH` gives each object's `VARIABLE_VALUE` checkpoint key. This
//! works for both `model.export` and `tf.saved_model.save`; a handle's `shared_name` equal to
//! a bundle key is the fallback for graphs without an object graph.

use std::collections::HashMap;

use prost::Message;

use crate::bundle::{Bundle, SavedData};
use crate::error::{Result, TfError};
use crate::protos::{GraphDef, MetaGraphDef, TrackableObjectGraph, attr_value::Value};

const OBJECT_GRAPH_KEY: &str = "_CHECKPOINTABLE_OBJECT_GRAPH";

fn trackable_graph(bundle: &Bundle) -> Result<Option<TrackableObjectGraph>> {
    if bundle.entry(OBJECT_GRAPH_KEY).is_none() {
        return Ok(None);
    }
    let t = bundle.tensor(OBJECT_GRAPH_KEY)?;
    let bytes = match &t.data {
        SavedData::Strings(s) if s.len() == 1 => &s[0],
        _ => {
            return Err(TfError::Bundle(format!(
                "{OBJECT_GRAPH_KEY} is not a scalar string"
            )));
        }
    };
    TrackableObjectGraph::decode(bytes.as_slice())
        .map(Some)
        .map_err(|e| TfError::Bundle(format!("{OBJECT_GRAPH_KEY} does not decode: {e}")))
}

/// VarHandleOp node name → checkpoint key, for every handle that can be mapped.
pub fn checkpoint_keys(
    meta: &MetaGraphDef,
    graph: &GraphDef,
    bundle: &Bundle,
) -> Result<HashMap<String, String>> {
    let mut keys = HashMap::new();
    let handles: HashMap<&str, &crate::protos::NodeDef> = graph
        .node
        .iter()
        .filter(|n| n.op == "VarHandleOp")
        .map(|n| (n.name.as_str(), n))
        .collect();
    for (name, node) in &handles {
        if let Some(Value::S(shared)) = node.attr.get("shared_name").and_then(|a| a.value.as_ref())
            && let Ok(shared) = std::str::from_utf8(shared)
            && bundle.entry(shared).is_some()
        {
            keys.insert(name.to_string(), shared.to_string());
        }
    }
    let (Some(objects), Some(trackable)) =
        (meta.object_graph_def.as_ref(), trackable_graph(bundle)?)
    else {
        return Ok(keys);
    };
    for node in &graph.node {
        if !crate::inline::is_call(&node.op) {
            continue;
        }
        let Some(Value::Func(f)) = node.attr.get("f").and_then(|a| a.value.as_ref()) else {
            continue;
        };
        let Some(concrete) = objects.concrete_functions.get(&f.name) else {
            continue;
        };
        let inputs: Vec<&str> = node
            .input
            .iter()
            .filter(|i| !i.starts_with('^'))
            .map(|i| i.as_str())
            .collect();
        let bound = &concrete.bound_inputs;
        if bound.len() > inputs.len() {
            return Err(TfError::SavedModel(format!(
                "{} binds {} captured inputs but is given {} inputs",
                f.name,
                bound.len(),
                inputs.len()
            )));
        }
        let captured = &inputs[inputs.len() - bound.len()..];
        for (input, &object) in captured.iter().zip(bound) {
            let handle = input.split(':').next().unwrap_or_default();
            if !handles.contains_key(handle) {
                continue;
            }
            let key = usize::try_from(object)
                .ok()
                .and_then(|i| trackable.nodes.get(i))
                .and_then(|n| n.attributes.iter().find(|a| a.name == "VARIABLE_VALUE"))
                .map(|a| a.checkpoint_key.clone());
            if let Some(key) = key {
                keys.insert(handle.to_string(), key);
            }
        }
    }
    Ok(keys)
}
