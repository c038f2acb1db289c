//! Graph helpers of the loop unroller: a topological order of a function body's nodes, and a
//! content key under which identical nodes emitted in different trips are shared.

use std::collections::{HashMap, VecDeque};

use prost::Message;

use crate::error::{Result, TfError};
use crate::protos::NodeDef;

/// Node indices ordered so every node comes after the nodes of `nodes` it reads.
pub fn topo_order(nodes: &[NodeDef]) -> Result<Vec<usize>> {
    let index: HashMap<&str, usize> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.name.as_str(), i))
        .collect();
    let mut users: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    let mut pending = vec![0usize; nodes.len()];
    for (i, n) in nodes.iter().enumerate() {
        for input in &n.input {
            let from = input.rsplit_once(':').map(|(n, _)| n).unwrap_or(input);
            if let Some(&j) = index.get(from) {
                users[j].push(i);
                pending[i] += 1;
            }
        }
    }
    let mut ready: VecDeque<usize> = (0..nodes.len()).filter(|&i| pending[i] == 0).collect();
    let mut order = Vec::with_capacity(nodes.len());
    while let Some(i) = ready.pop_front() {
        order.push(i);
        for &u in &users[i] {
            pending[u] -= 1;
            if pending[u] == 0 {
                ready.push_back(u);
            }
        }
    }
    if order.len() != nodes.len() {
        let stuck = (0..nodes.len()).find(|&i| pending[i] > 0).unwrap_or(0);
        return Err(TfError::Loop(format!(
            "the graph has a cycle through {} (TF1 control-flow loops are not supported)",
            nodes[stuck].name
        )));
    }
    Ok(order)
}

/// A node's op, inputs and attributes, as bytes; equal for nodes computing the same thing.
pub fn content_key(node: &NodeDef) -> Vec<u8> {
    let mut key = node.op.clone().into_bytes();
    for i in &node.input {
        key.push(0);
        key.extend_from_slice(i.as_bytes());
    }
    let mut attrs: Vec<_> = node.attr.iter().collect();
    attrs.sort_by(|a, b| a.0.cmp(b.0));
    for (name, value) in attrs {
        key.push(1);
        key.extend_from_slice(name.as_bytes());
        key.push(0);
        key.extend(value.encode_to_vec());
    }
    key
}
