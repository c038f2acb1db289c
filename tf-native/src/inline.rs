//! Flattens a TF2 graph: every function reached through StatefulPartitionedCall /
//! PartitionedCall (or called directly by name) is inlined from the FunctionDefLibrary, nested
//! calls included. Function bodies name tensors `arg` or `node:out_arg:i`; these become
//! GraphDef's `prefix/node:flat_index`, the flat index computed from the op's OpDef.
//! Control inputs are dropped: the frozen graph is pure dataflow.

use std::collections::HashMap;

use crate::error::{Result, TfError};
use crate::protos::{AttrValue, FunctionDef, NodeDef, OpDef, attr_value::Value};
use crate::signature::normalize_tensor;

/// Bounds that keep a hostile library (recursive or huge functions) from exhausting memory.
const MAX_DEPTH: usize = 32;
const MAX_NODES: usize = 2_000_000;

pub fn is_call(op: &str) -> bool {
    matches!(op, "StatefulPartitionedCall" | "PartitionedCall")
}

/// The flat graph being built, with aliases for the outputs of inlined calls.
pub struct Inliner<'a> {
    pub library: HashMap<&'a str, &'a FunctionDef>,
    pub op_defs: &'a HashMap<String, OpDef>,
    pub nodes: Vec<NodeDef>,
    /// `call:i` → the tensor that the called function returns as its i-th output.
    pub alias: HashMap<String, String>,
}

impl<'a> Inliner<'a> {
    pub fn new(functions: &'a [FunctionDef], op_defs: &'a HashMap<String, OpDef>) -> Self {
        let library = functions
            .iter()
            .filter_map(|f| f.signature.as_ref().map(|s| (s.name.as_str(), f)))
            .collect();
        Inliner {
            library,
            op_defs,
            nodes: Vec::new(),
            alias: HashMap::new(),
        }
    }

    /// The function a node calls, if it is a call.
    pub fn callee(&self, node: &NodeDef) -> Result<Option<&'a FunctionDef>> {
        let name = if is_call(&node.op) {
            match node.attr.get("f").and_then(|a| a.value.as_ref()) {
                Some(Value::Func(f)) => f.name.as_str(),
                _ => {
                    return Err(TfError::Freeze(format!(
                        "call {} names no function",
                        node.name
                    )));
                }
            }
        } else if self.library.contains_key(node.op.as_str()) {
            node.op.as_str()
        } else {
            return Ok(None);
        };
        self.library.get(name).copied().map(Some).ok_or_else(|| {
            TfError::Freeze(format!(
                "{} calls {name:?}, which the library lacks",
                node.name
            ))
        })
    }

    fn push(&mut self, node: NodeDef) -> Result<()> {
        if self.nodes.len() >= MAX_NODES {
            return Err(TfError::Freeze(format!(
                "more than {MAX_NODES} nodes after inlining"
            )));
        }
        self.nodes.push(node);
        Ok(())
    }

    /// Adds a graph-level node (inputs already in GraphDef form), inlining it if it is a call.
    pub fn add_graph_node(&mut self, node: &NodeDef) -> Result<()> {
        let inputs: Vec<String> = node
            .input
            .iter()
            .filter(|i| !i.starts_with('^'))
            .map(|i| normalize_tensor(i))
            .collect();
        match self.callee(node)? {
            Some(f) => {
                let outs = self.inline(f, &node.name, &inputs, 0)?;
                for (i, t) in outs.into_iter().enumerate() {
                    self.alias.insert(format!("{}:{i}", node.name), t);
                }
                Ok(())
            }
            None => self.push(NodeDef {
                input: inputs,
                ..node.clone()
            }),
        }
    }

    /// Rewrites every input and the given tensors through the call aliases; returns the flat
    /// nodes and the resolved tensors.
    pub fn into_flat(self, tensors: &[String]) -> Result<(Vec<NodeDef>, Vec<String>)> {
        let Inliner {
            mut nodes, alias, ..
        } = self;
        let resolve = |t: &str| -> Result<String> {
            let mut t = t.to_string();
            for _ in 0..=alias.len() {
                match alias.get(&t) {
                    Some(next) => t = next.clone(),
                    None => return Ok(t),
                }
            }
            Err(TfError::Freeze(format!(
                "call outputs alias each other in a cycle ({t})"
            )))
        };
        for node in &mut nodes {
            for i in &mut node.input {
                *i = resolve(i)?;
            }
        }
        let tensors = tensors
            .iter()
            .map(|t| resolve(t))
            .collect::<Result<Vec<_>>>()?;
        Ok((nodes, tensors))
    }

    /// Flattens function `f` on its own (a loop body), its inputs bound to `args`, its nodes
    /// named under `prefix`; returns the nodes and the function's outputs.
    pub fn flatten(
        functions: &'a [FunctionDef],
        op_defs: &'a HashMap<String, OpDef>,
        f: &FunctionDef,
        prefix: &str,
        args: &[String],
    ) -> Result<(Vec<NodeDef>, Vec<String>)> {
        let mut inl = Inliner::new(functions, op_defs);
        let outputs = inl.inline(f, prefix, args, 0)?;
        inl.into_flat(&outputs)
    }

    /// Inlines `f` under `prefix`, its inputs bound to `args`; returns its flat outputs.
    fn inline(
        &mut self,
        f: &FunctionDef,
        prefix: &str,
        args: &[String],
        depth: usize,
    ) -> Result<Vec<String>> {
        let sig = f
            .signature
            .as_ref()
            .ok_or_else(|| TfError::Freeze("function without signature".into()))?;
        if depth >= MAX_DEPTH {
            return Err(TfError::Freeze(format!(
                "calls nest deeper than {MAX_DEPTH} ({})",
                sig.name
            )));
        }
        if sig.input_arg.len() != args.len() {
            return Err(TfError::Freeze(format!(
                "{prefix} passes {} inputs to {}, which takes {}",
                args.len(),
                sig.name,
                sig.input_arg.len()
            )));
        }
        let arg_map: HashMap<&str, &str> = sig
            .input_arg
            .iter()
            .map(|a| a.name.as_str())
            .zip(args.iter().map(|s| s.as_str()))
            .collect();
        let body: HashMap<&str, &NodeDef> =
            f.node_def.iter().map(|n| (n.name.as_str(), n)).collect();
        let resolve = |r: &str| -> Result<String> { self.resolve(r, prefix, &arg_map, &body) };
        let mut staged = Vec::with_capacity(f.node_def.len());
        for node in &f.node_def {
            let inputs = node
                .input
                .iter()
                .filter(|i| !i.starts_with('^'))
                .map(|i| resolve(i))
                .collect::<Result<Vec<_>>>()?;
            staged.push((node, inputs));
        }
        let outputs = sig
            .output_arg
            .iter()
            .map(|o| {
                let r = f.ret.get(&o.name).ok_or_else(|| {
                    TfError::Freeze(format!(
                        "{} does not return its output {:?}",
                        sig.name, o.name
                    ))
                })?;
                resolve(r)
            })
            .collect::<Result<Vec<_>>>()?;
        for (node, inputs) in staged {
            let name = format!("{prefix}/{}", node.name);
            match self.callee(node)? {
                Some(g) => {
                    let outs = self.inline(g, &name, &inputs, depth + 1)?;
                    for (i, t) in outs.into_iter().enumerate() {
                        self.alias.insert(format!("{name}:{i}"), t);
                    }
                }
                None => self.push(NodeDef {
                    name,
                    input: inputs,
                    ..node.clone()
                })?,
            }
        }
        Ok(outputs)
    }

    /// A function-body tensor reference in GraphDef form.
    fn resolve(
        &self,
        r: &str,
        prefix: &str,
        args: &HashMap<&str, &str>,
        body: &HashMap<&str, &NodeDef>,
    ) -> Result<String> {
        let mut parts = r.splitn(3, ':');
        let head = parts.next().unwrap_or_default();
        let (out_arg, index) = (parts.next(), parts.next());
        if let Some(&bound) = args.get(head) {
            return match out_arg {
                None | Some("0") => Ok(bound.to_string()),
                Some(_) => Err(TfError::Freeze(format!(
                    "list argument reference {r:?} unsupported"
                ))),
            };
        }
        let node = body
            .get(head)
            .ok_or_else(|| TfError::Freeze(format!("{prefix}: {r:?} names no node or argument")))?;
        let index: usize = match index {
            Some(i) => i
                .parse()
                .map_err(|_| TfError::Freeze(format!("bad tensor reference {r:?}")))?,
            None => 0,
        };
        let flat = match out_arg {
            None => 0,
            Some(arg) => self.output_offset(node, arg)? + index,
        };
        Ok(format!("{prefix}/{head}:{flat}"))
    }

    /// Where output argument `arg` of `node` starts among the node's flat outputs.
    fn output_offset(&self, node: &NodeDef, arg: &str) -> Result<usize> {
        let callee_sig = self
            .library
            .get(node.op.as_str())
            .and_then(|f| f.signature.as_ref());
        let Some(def) = self.op_defs.get(&node.op).or(callee_sig) else {
            // Without an OpDef, assume a single output argument (true of most ops).
            return Ok(0);
        };
        let mut offset = 0;
        for out in &def.output_arg {
            if out.name == arg {
                return Ok(offset);
            }
            offset += arg_len(node, def, out)?;
        }
        Err(TfError::Freeze(format!(
            "{} ({}) has no output {arg:?}",
            node.name, node.op
        )))
    }
}

/// How many tensors an output argument stands for.
fn arg_len(node: &NodeDef, def: &OpDef, out: &crate::protos::op_def::ArgDef) -> Result<usize> {
    let attr = |name: &str| -> Option<&AttrValue> {
        node.attr.get(name).or_else(|| {
            def.attr
                .iter()
                .find(|a| a.name == name)
                .and_then(|a| a.default_value.as_ref())
        })
    };
    let bad = || {
        TfError::Freeze(format!(
            "{} ({}) lacks the size of output {}",
            node.name, node.op, out.name
        ))
    };
    if !out.number_attr.is_empty() {
        return match attr(&out.number_attr).and_then(|a| a.value.as_ref()) {
            Some(Value::I(n)) => usize::try_from(*n).map_err(|_| bad()),
            _ => Err(bad()),
        };
    }
    if !out.type_list_attr.is_empty() {
        return match attr(&out.type_list_attr).and_then(|a| a.value.as_ref()) {
            Some(Value::List(l)) => Ok(l.r#type.len()),
            _ => Err(bad()),
        };
    }
    Ok(1)
}
