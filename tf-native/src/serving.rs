//! Every signature of a SavedModel made runnable at once, as a server loads it: the served
//! one (`serving_default` unless named) must load; each other one is frozen and typed too, or
//! refused with its reason (a missing op, a sparse input...) without failing the load. Two
//! signatures computing the same thing (Keras' `model.export` writes `serve` and
//! `serving_default` as two wrappers of one function) share one graph: their frozen graphs
//! are compared by a structural fingerprint that ignores node names.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};

use prost::Message;

use crate::error::{Result, TfError};
use crate::files::ModelFiles;
use crate::freeze::{FrozenGraph, freeze};
use crate::load::{TfGraph, open_bundle, read_saved_model, typed};
use crate::protos::NodeDef;
use crate::signature::{Signature, pick, serving_meta_graph, signature_names};

/// Signatures besides the served one made into graphs; any further ones are refused (each
/// costs a graph's memory and load time).
pub const MAX_OTHER_SIGNATURES: usize = 32;

/// A signature other than the served one.
#[derive(Debug)]
pub enum Other {
    /// Its own graph.
    Graph(Box<TfGraph>),
    /// The same computation as the named signature (the served one, or an earlier `Graph`),
    /// with the same input and output keys: served by that one's graph.
    SameAs(String),
    /// Why it cannot be served.
    Refused(TfError),
}

/// The graphs of a SavedModel's signatures.
#[derive(Debug)]
pub struct SignatureGraphs {
    /// The served signature; its `signatures` list every readable one, for metadata.
    pub served: TfGraph,
    /// Every other servable signature, by name, sorted.
    pub others: Vec<(String, Other)>,
}

/// Every signature of the SavedModel in `files` (see the module docs); `served` names the
/// one that must load (default `serving_default`).
pub fn saved_model_graphs(files: &dyn ModelFiles, served: Option<&str>) -> Result<SignatureGraphs> {
    let saved = read_saved_model(files)?;
    let meta = serving_meta_graph(&saved)?;
    let sig = pick(meta, served)?;
    let bundle = open_bundle(files)?;
    let frozen = freeze(meta, &sig, bundle.as_ref())?;
    let mut known: Vec<(String, Option<u64>)> =
        vec![(sig.name.clone(), fingerprint(&frozen, &sig))];
    let mut graph = typed(frozen, sig)?;
    graph.signatures = crate::signature::all(meta);
    let mut others = Vec::new();
    let mut made = 0;
    for name in signature_names(meta) {
        if name == graph.signature.name {
            continue;
        }
        let other = (|| -> Result<Other> {
            let sig = pick(meta, Some(&name))?;
            let frozen = freeze(meta, &sig, bundle.as_ref())?;
            let print = fingerprint(&frozen, &sig);
            if let Some((twin, _)) = known.iter().find(|(_, p)| print.is_some() && *p == print) {
                return Ok(Other::SameAs(twin.clone()));
            }
            if made == MAX_OTHER_SIGNATURES {
                return Err(TfError::Signature {
                    signature: name.clone(),
                    reason: format!(
                        "the model has more than {MAX_OTHER_SIGNATURES} other signatures; only the first {MAX_OTHER_SIGNATURES} (by name) are served"
                    ),
                });
            }
            let graph = typed(frozen, sig)?;
            made += 1;
            known.push((name.clone(), print));
            Ok(Other::Graph(Box::new(graph)))
        })()
        .unwrap_or_else(Other::Refused);
        others.push((name, other));
    }
    Ok(SignatureGraphs {
        served: graph,
        others,
    })
}

/// A hash of what `frozen` computes for `sig`: its input and output keys, dtypes and shapes,
/// and for each output the structure it depends on (ops, attributes, constants' values,
/// inputs in order), whatever the nodes are called. `None` when the graph cannot be walked
/// (a loop, an unknown input), which makes it share with nothing.
fn fingerprint(frozen: &FrozenGraph, sig: &Signature) -> Option<u64> {
    let nodes: HashMap<&str, &NodeDef> = frozen
        .graph
        .node
        .iter()
        .map(|n| (n.name.as_str(), n))
        .collect();
    let mut hashes: HashMap<&str, u64> = HashMap::new();
    for (key, node) in sig.inputs.iter().zip(&frozen.inputs) {
        let mut h = DefaultHasher::new();
        ("input", &key.key, key.dtype as i32, &key.shape).hash(&mut h);
        hashes.insert(node.as_str(), h.finish());
    }
    let mut h = DefaultHasher::new();
    for (spec, tensor) in sig.outputs.iter().zip(&frozen.outputs) {
        let (node, slot) = split(tensor);
        let node_hash = walk(node, &nodes, &mut hashes)?;
        (&spec.key, spec.dtype as i32, &spec.shape, node_hash, slot).hash(&mut h);
    }
    Some(h.finish())
}

/// `node:3` as (`node`, `3`); a bare name is output 0.
fn split(input: &str) -> (&str, &str) {
    input.rsplit_once(':').unwrap_or((input, "0"))
}

/// The structural hash of `root`, its ancestors' filled in on the way (an explicit stack:
/// unrolled loops make graphs too deep to recurse over).
fn walk<'g>(
    root: &'g str,
    nodes: &HashMap<&'g str, &'g NodeDef>,
    hashes: &mut HashMap<&'g str, u64>,
) -> Option<u64> {
    let mut stack: Vec<(&str, bool)> = vec![(root, false)];
    let mut open: std::collections::HashSet<&str> = Default::default();
    while let Some((name, inputs_done)) = stack.pop() {
        if hashes.contains_key(name) {
            continue;
        }
        let node = nodes.get(name)?;
        let data_inputs = node.input.iter().filter(|i| !i.starts_with('^'));
        if !inputs_done {
            if !open.insert(name) {
                return None;
            }
            stack.push((name, true));
            for input in data_inputs {
                let (input, _) = split(input);
                if !hashes.contains_key(input) {
                    stack.push((input, false));
                }
            }
            continue;
        }
        let mut h = DefaultHasher::new();
        node.op.hash(&mut h);
        let mut attrs: Vec<_> = node.attr.iter().collect();
        attrs.sort_by(|a, b| a.0.cmp(b.0));
        for (key, value) in attrs {
            (key, value.encode_to_vec()).hash(&mut h);
        }
        for input in data_inputs {
            let (input, slot) = split(input);
            (hashes.get(input)?, slot).hash(&mut h);
        }
        hashes.insert(name, h.finish());
        open.remove(name);
    }
    hashes.get(root).copied()
}
