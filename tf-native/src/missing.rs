//! Refuses, before tract sees it, a frozen graph that uses operations the op registry cannot
//! build, listing each missing op with the nodes that use it; also rejects attribute values
//! tract-tensorflow would unwrap (empty values, unknown dtypes, non-positive strides).

use std::collections::BTreeMap;

use tract_tensorflow::model::TfOpRegister;

use crate::error::{Result, TfError};
use crate::protos::{DataType, GraphDef, attr_value::Value};

/// Nodes listed per missing op in the error, the rest counted.
const NODES_SHOWN: usize = 5;

/// Ops the loader handles itself rather than through the registry.
const BUILT_IN: &[&str] = &["NextIteration"];

pub fn check_ops(graph: &GraphDef, registry: &TfOpRegister) -> Result<()> {
    let mut missing: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for node in &graph.node {
        if !registry.0.contains_key(&node.op) && !BUILT_IN.contains(&node.op.as_str()) {
            missing.entry(&node.op).or_default().push(&node.name);
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = missing
        .iter()
        .map(|(op, nodes)| {
            let shown: Vec<&str> = nodes.iter().take(NODES_SHOWN).copied().collect();
            let more = nodes.len().saturating_sub(NODES_SHOWN);
            let more = if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            };
            format!("{op} (at {}{more})", shown.join(", "))
        })
        .collect();
    Err(TfError::UnsupportedOps(list.join("; ")))
}

/// Attribute values tract-tensorflow's getters would panic on.
pub fn check_attrs(graph: &GraphDef) -> Result<()> {
    for node in &graph.node {
        for (name, attr) in &node.attr {
            let bad = |why: &str| {
                Err(TfError::Freeze(format!(
                    "node {} ({}): attribute {name:?} {why}",
                    node.name, node.op
                )))
            };
            match &attr.value {
                None => return bad("has no value"),
                Some(Value::Type(t)) if DataType::try_from(*t).is_err() => {
                    return bad("is an unknown dtype");
                }
                Some(Value::List(l))
                    if matches!(name.as_str(), "strides" | "ksize" | "dilations")
                        && l.i.iter().any(|&i| i < 1) =>
                {
                    return bad("holds integers below 1");
                }
                _ => {}
            }
        }
    }
    Ok(())
}
