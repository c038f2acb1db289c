//! Freezes a signature of a SavedModel into a self-contained GraphDef tract-tensorflow can run:
//! keeps what the signature's outputs depend on, inlines the called functions (`inline`),
//! unrolls While loops and their TensorLists (`loops`),
//! replaces variable reads by constants from the bundle, restores attributes stripped because
//! they had their default value, and prunes everything else (NoOps, savers, initialisers).

use std::collections::{HashMap, HashSet, VecDeque};

use crate::bundle::{Bundle, SavedData, SavedTensor};
use crate::error::{Result, TfError};
use crate::inline::Inliner;
use crate::protos::{
    AttrValue, DataType, GraphDef, MetaGraphDef, NodeDef, OpDef, TensorProto, TensorShapeProto,
    attr_value::Value, tensor_shape_proto::Dim,
};
use crate::signature::Signature;

/// A graph ready for tract, with the tensors standing for the signature's inputs and outputs.
#[derive(Debug, Clone)]
pub struct FrozenGraph {
    pub graph: GraphDef,
    /// Placeholder node names, in the order of `Signature::inputs`.
    pub inputs: Vec<String>,
    /// `node:index` tensors, in the order of `Signature::outputs`.
    pub outputs: Vec<String>,
}

fn node_of(tensor: &str) -> &str {
    tensor.rsplit_once(':').map(|(n, _)| n).unwrap_or(tensor)
}

/// Names of the nodes the given tensors depend on (data inputs only).
fn ancestors<'a>(
    nodes: &HashMap<&'a str, &'a NodeDef>,
    roots: &[String],
) -> Result<HashSet<&'a str>> {
    let mut seen = HashSet::new();
    let mut queue: VecDeque<String> = roots.iter().map(|r| node_of(r).to_string()).collect();
    while let Some(name) = queue.pop_front() {
        let (&key, node) = nodes.get_key_value(name.as_str()).ok_or_else(|| {
            TfError::Freeze(format!("tensor {name:?} names no node of the graph"))
        })?;
        if seen.insert(key) {
            for i in node.input.iter().filter(|i| !i.starts_with('^')) {
                queue.push_back(node_of(i.trim_start_matches('^')).to_string());
            }
        }
    }
    Ok(seen)
}

/// The OpDefs a MetaGraph carries, by op name.
pub fn op_defs(meta: &MetaGraphDef) -> HashMap<String, OpDef> {
    meta.meta_info_def
        .as_ref()
        .and_then(|m| m.stripped_op_list.as_ref())
        .map(|l| l.op.iter().map(|o| (o.name.clone(), o.clone())).collect())
        .unwrap_or_default()
}

/// Freezes `sig` of `meta`, reading variables from `bundle`.
pub fn freeze(
    meta: &MetaGraphDef,
    sig: &Signature,
    bundle: Option<&Bundle>,
) -> Result<FrozenGraph> {
    let graph = meta
        .graph_def
        .as_ref()
        .ok_or_else(|| TfError::SavedModel("meta graph has no graph".into()))?;
    let defs = op_defs(meta);
    let by_name: HashMap<&str, &NodeDef> =
        graph.node.iter().map(|n| (n.name.as_str(), n)).collect();
    let out_tensors: Vec<String> = sig.outputs.iter().map(|o| o.tensor.clone()).collect();
    let needed = ancestors(&by_name, &out_tensors)?;
    let functions = graph
        .library
        .as_ref()
        .map(|l| l.function.as_slice())
        .unwrap_or(&[]);
    let mut inl = Inliner::new(functions, &defs);
    for node in graph
        .node
        .iter()
        .filter(|n| needed.contains(n.name.as_str()))
    {
        inl.add_graph_node(node)?;
    }
    for input in &sig.inputs {
        let name = node_of(&input.tensor);
        if !needed.contains(name) {
            let node = by_name.get(name).ok_or_else(|| {
                TfError::Freeze(format!("input {:?} names no node ({name:?})", input.key))
            })?;
            inl.add_graph_node(node)?;
        }
    }
    let keys = match bundle {
        Some(b) => crate::variables::checkpoint_keys(meta, graph, b)?,
        None => HashMap::new(),
    };
    let (nodes, outputs) = inl.into_flat(&out_tensors)?;
    let inputs: Vec<String> = sig
        .inputs
        .iter()
        .map(|i| node_of(&i.tensor).to_string())
        .collect();
    let (nodes, outputs) = crate::loops::translate(nodes, &outputs, functions, &defs)?;
    let ops: HashMap<String, String> = nodes
        .iter()
        .map(|n| (n.name.clone(), n.op.clone()))
        .collect();
    let mut frozen = Vec::with_capacity(nodes.len());
    for node in nodes {
        frozen.extend(replace_variable_reads(node, &ops, &keys, bundle)?);
    }
    let by_name: HashMap<&str, &NodeDef> = frozen.iter().map(|n| (n.name.as_str(), n)).collect();
    let mut roots = outputs.clone();
    roots.extend(inputs.iter().cloned());
    let keep: HashSet<String> = ancestors(&by_name, &roots)?
        .into_iter()
        .map(String::from)
        .collect();
    let mut kept: Vec<NodeDef> = frozen
        .into_iter()
        .filter(|n| keep.contains(&n.name))
        .collect();
    for node in &mut kept {
        if let Some(def) = defs.get(&node.op) {
            for a in &def.attr {
                if let Some(v) = &a.default_value {
                    node.attr.entry(a.name.clone()).or_insert_with(|| v.clone());
                }
            }
        }
    }
    let graph = GraphDef {
        node: kept,
        versions: graph.versions.clone(),
        ..Default::default()
    };
    Ok(FrozenGraph {
        graph,
        inputs,
        outputs,
    })
}

/// A `ReadVariableOp` of a handle becomes a `Const`; a `ResourceGather` a `GatherV2` of one.
fn replace_variable_reads(
    node: NodeDef,
    ops: &HashMap<String, String>,
    keys: &HashMap<String, String>,
    bundle: Option<&Bundle>,
) -> Result<Vec<NodeDef>> {
    let handle = match node.input.first() {
        Some(i) if ops.get(node_of(i)).is_some_and(|op| op == "VarHandleOp") => {
            node_of(i).to_string()
        }
        _ => return Ok(vec![node]),
    };
    let value = || -> Result<TensorProto> {
        let key = keys.get(&handle).ok_or_else(|| {
            TfError::Freeze(format!(
                "variable {handle:?} (read by {}) has no checkpoint key",
                node.name
            ))
        })?;
        let bundle =
            bundle.ok_or_else(|| TfError::Freeze("the model has no variables bundle".into()))?;
        to_proto(&bundle.tensor(key)?)
    };
    match node.op.as_str() {
        "ReadVariableOp" => {
            let t = value()?;
            Ok(vec![konst(node.name.clone(), t)])
        }
        "ResourceGather" => {
            let params = konst(format!("{}/params", node.name), value()?);
            let axis = konst(format!("{}/axis", node.name), scalar_i32(0));
            let mut attr = HashMap::new();
            for (from, to) in [
                ("dtype", "Tparams"),
                ("Tindices", "Tindices"),
                ("batch_dims", "batch_dims"),
            ] {
                if let Some(v) = node.attr.get(from) {
                    attr.insert(to.to_string(), v.clone());
                }
            }
            attr.insert(
                "Taxis".into(),
                AttrValue {
                    value: Some(Value::Type(DataType::DtInt32 as i32)),
                },
            );
            let indices = node.input.get(1).cloned().ok_or_else(|| {
                TfError::Freeze(format!("{} (ResourceGather) has no indices", node.name))
            })?;
            let gather = NodeDef {
                name: node.name.clone(),
                op: "GatherV2".into(),
                input: vec![
                    format!("{}:0", params.name),
                    indices,
                    format!("{}:0", axis.name),
                ],
                attr,
                ..Default::default()
            };
            Ok(vec![params, axis, gather])
        }
        other => Err(TfError::Freeze(format!(
            "{} ({other}) uses variable {handle:?} in a way a frozen graph cannot (only reads are allowed)",
            node.name
        ))),
    }
}

fn konst(name: String, value: TensorProto) -> NodeDef {
    let mut attr = HashMap::new();
    attr.insert(
        "dtype".to_string(),
        AttrValue {
            value: Some(Value::Type(value.dtype)),
        },
    );
    attr.insert(
        "value".to_string(),
        AttrValue {
            value: Some(Value::Tensor(value)),
        },
    );
    NodeDef {
        name,
        op: "Const".into(),
        attr,
        ..Default::default()
    }
}

fn scalar_i32(v: i32) -> TensorProto {
    TensorProto {
        dtype: DataType::DtInt32 as i32,
        tensor_shape: Some(TensorShapeProto::default()),
        int_val: vec![v],
        ..Default::default()
    }
}

fn to_proto(t: &SavedTensor) -> Result<TensorProto> {
    let shape = TensorShapeProto {
        dim: t
            .dims
            .iter()
            .map(|&d| Dim {
                size: d as i64,
                name: String::new(),
            })
            .collect(),
        unknown_rank: false,
    };
    let mut proto = TensorProto {
        dtype: t.dtype as i32,
        tensor_shape: Some(shape),
        ..Default::default()
    };
    match &t.data {
        SavedData::Raw(bytes) => proto.tensor_content = bytes.clone(),
        SavedData::Strings(s) => proto.string_val = s.clone(),
    }
    Ok(proto)
}
