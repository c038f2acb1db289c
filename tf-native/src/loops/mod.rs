//! Translates TF2's functional loops (`While`, `StatelessWhile`) and the TensorList ops they
//! carry into plain dataflow tract can run, by unrolling at load. Keras' LSTM and GRU over a
//! fixed sequence length loop a constant number of times: the loop's condition is evaluated
//! here on values known at load (`known`), the body is inlined once per trip, and TensorLists
//! become bookkeeping (`lists`): reads of a list made from a tensor are slices of it, written
//! slots are tensors, and stacking them is a `Pack`.
//!
//! Refused, with the loop or op named: a condition that depends on runtime values (the trip
//! count is not constant), more than `MAX_TRIPS` trips, list indices not known at load, reading
//! or stacking slots never written (their value would need the element shape), and
//! TensorList ops other than those listed in `lists`.

mod graph;
mod known;
mod lists;

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use crate::error::{Result, TfError};
use crate::inline::Inliner;
use crate::protos::{FunctionDef, NodeDef, OpDef, attr_value::Value};
use graph::{content_key, topo_order};
use known::Known;
use lists::List;

/// Trips of one loop, beyond which it is refused rather than unrolled.
pub const MAX_TRIPS: usize = 4096;
/// Loops nested deeper than this are refused.
const MAX_DEPTH: usize = 8;
/// Nodes the unrolled graph may hold.
const MAX_NODES: usize = 2_000_000;
/// Nodes visited and trips taken while unrolling (nested loops of known values emit nothing
/// but still take time).
const MAX_WORK: usize = 4_000_000;
/// Loop arguments are bound to tensors named with a character TF names cannot hold.
const ARG: &str = "loop#arg";

/// What a tensor of the graph stands for while translating.
#[derive(Debug, Clone)]
enum Sym {
    /// A tensor of the emitted graph (`node:index`).
    Tensor(String),
    /// A value known at load, and the emitted tensor holding it if there is one.
    Known(Known, Option<String>),
    List(List),
}

/// Tensor values of one scope (the top-level graph or one trip of a loop body).
#[derive(Default)]
struct Env {
    values: HashMap<String, Sym>,
    /// Original node name → emitted node name, for nodes emitted as they are.
    renamed: HashMap<String, String>,
}

impl Env {
    fn with_args(args: &[Sym]) -> Env {
        let mut env = Env::default();
        for (i, a) in args.iter().enumerate() {
            env.values.insert(format!("{ARG}{i}:0"), a.clone());
        }
        env
    }

    fn lookup(&self, t: &str) -> Option<Sym> {
        if let Some(v) = self.values.get(t) {
            return Some(v.clone());
        }
        let (node, idx) = t.rsplit_once(':')?;
        self.renamed
            .get(node)
            .map(|n| Sym::Tensor(format!("{n}:{idx}")))
    }
}

fn is_loop_op(op: &str) -> bool {
    matches!(op, "While" | "StatelessWhile") || lists::is_list_op(op)
}

pub(crate) fn loop_error(node: &NodeDef, why: impl std::fmt::Display) -> TfError {
    TfError::Loop(format!("{} ({}): {why}", node.name, node.op))
}

/// Unrolls every loop of a flat graph and removes its TensorList ops; `outputs` are renamed to
/// the tensors that now hold them. Graphs without loops or lists are returned unchanged.
pub fn translate(
    nodes: Vec<NodeDef>,
    outputs: &[String],
    functions: &[FunctionDef],
    op_defs: &HashMap<String, OpDef>,
) -> Result<(Vec<NodeDef>, Vec<String>)> {
    if !nodes.iter().any(|n| is_loop_op(&n.op)) {
        return Ok((nodes, outputs.to_vec()));
    }
    let mut u = Unroller {
        functions,
        op_defs,
        library: functions
            .iter()
            .filter_map(|f| f.signature.as_ref().map(|s| (s.name.as_str(), f)))
            .collect(),
        out: Vec::new(),
        names: HashSet::new(),
        cse: HashMap::new(),
        constants: HashMap::new(),
        work: 0,
    };
    let mut env = Env::default();
    u.run(&nodes, &mut env, "", 0)?;
    let outputs = outputs
        .iter()
        .map(|t| {
            let sym = env
                .lookup(t)
                .ok_or_else(|| TfError::Loop(format!("output {t} is produced by no node")))?;
            u.tensor(sym, &format!("{}/value", t.replace(':', "_")), || {
                TfError::Loop(format!("output {t} is a TensorList, not a tensor"))
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((u.out, outputs))
}

struct Unroller<'a> {
    functions: &'a [FunctionDef],
    op_defs: &'a HashMap<String, OpDef>,
    library: HashMap<&'a str, &'a FunctionDef>,
    out: Vec<NodeDef>,
    names: HashSet<String>,
    /// Nodes emitted inside loops, by content: loop-invariant work (variable reads, constants)
    /// is emitted once rather than once per trip.
    cse: HashMap<Vec<u8>, String>,
    /// Known values already emitted as `Const`.
    constants: HashMap<Known, String>,
    work: usize,
}

fn scoped(scope: &str, name: &str) -> String {
    if scope.is_empty() {
        name.to_string()
    } else {
        format!("{scope}/{name}")
    }
}

impl Unroller<'_> {
    fn run(&mut self, nodes: &[NodeDef], env: &mut Env, scope: &str, depth: usize) -> Result<()> {
        for i in topo_order(nodes)? {
            self.work += 1;
            if self.work > MAX_WORK {
                return Err(TfError::Loop(format!(
                    "unrolling visits more than {MAX_WORK} nodes (loops nested too deep or too long)"
                )));
            }
            self.node(&nodes[i], env, scope, depth)?;
        }
        Ok(())
    }

    fn node(&mut self, n: &NodeDef, env: &mut Env, scope: &str, depth: usize) -> Result<()> {
        let name = scoped(scope, &n.name);
        let inputs = n
            .input
            .iter()
            .map(|i| {
                env.lookup(i)
                    .ok_or_else(|| loop_error(n, format!("input {i} is produced by no node")))
            })
            .collect::<Result<Vec<_>>>()?;
        let outs = match n.op.as_str() {
            "NoOp" => vec![],
            "Identity" | "IdentityN" | "StopGradient" => inputs,
            "While" | "StatelessWhile" => self.unroll(n, &name, inputs, depth)?,
            op if lists::is_list_op(op) => self.list_op(n, &name, inputs)?,
            "Const" => {
                let emitted = self.emit(n.clone(), &name, !scope.is_empty())?;
                match Known::from_const(n) {
                    Some(k) => vec![Sym::Known(k, Some(format!("{emitted}:0")))],
                    None => {
                        env.renamed.insert(n.name.clone(), emitted);
                        return Ok(());
                    }
                }
            }
            _ => {
                let known: Option<Vec<&Known>> = inputs
                    .iter()
                    .map(|s| match s {
                        Sym::Known(k, _) => Some(k),
                        _ => None,
                    })
                    .collect();
                match known
                    .filter(|k| !k.is_empty())
                    .and_then(|k| known::eval(n, &k))
                {
                    Some(k) => vec![Sym::Known(k, None)],
                    None => {
                        let mut wired = Vec::with_capacity(inputs.len());
                        for (i, s) in inputs.into_iter().enumerate() {
                            let t = self.tensor(s, &format!("{name}/known{i}"), || {
                                loop_error(n, format!("input {i} is a TensorList; only TensorList ops and loops may take one"))
                            })?;
                            wired.push(t);
                        }
                        let node = NodeDef {
                            input: wired,
                            ..n.clone()
                        };
                        let emitted = self.emit(node, &name, !scope.is_empty())?;
                        env.renamed.insert(n.name.clone(), emitted);
                        return Ok(());
                    }
                }
            }
        };
        for (i, s) in outs.into_iter().enumerate() {
            env.values.insert(format!("{}:{i}", n.name), s);
        }
        Ok(())
    }

    /// The emitted tensor holding `sym` (a `Const` for a known value); `on_list` tells why a
    /// list cannot stand there.
    fn tensor(
        &mut self,
        sym: Sym,
        hint: &str,
        on_list: impl FnOnce() -> TfError,
    ) -> Result<String> {
        match sym {
            Sym::Tensor(t) | Sym::Known(_, Some(t)) => Ok(t),
            Sym::Known(k, None) => {
                if let Some(t) = self.constants.get(&k) {
                    return Ok(t.clone());
                }
                let mut name = hint.to_string();
                for suffix in 1.. {
                    if !self.names.contains(&name) {
                        break;
                    }
                    name = format!("{hint}_{suffix}");
                }
                let name = format!("{}:0", self.emit(k.to_const(name.clone()), &name, false)?);
                self.constants.insert(k, name.clone());
                Ok(name)
            }
            Sym::List(_) => Err(on_list()),
        }
    }

    /// Adds `node` as `name`; inside loops, an identical node emitted before is reused.
    fn emit(&mut self, mut node: NodeDef, name: &str, share: bool) -> Result<String> {
        if self.out.len() >= MAX_NODES {
            return Err(TfError::Loop(format!(
                "unrolling makes more than {MAX_NODES} nodes"
            )));
        }
        let key = (share && !node.op.contains("Random")).then(|| content_key(&node));
        if let Some(existing) = key.as_ref().and_then(|k| self.cse.get(k)) {
            return Ok(existing.clone());
        }
        if !self.names.insert(name.to_string()) {
            return Err(TfError::Loop(format!("two nodes are named {name}")));
        }
        if let Some(key) = key {
            self.cse.insert(key, name.to_string());
        }
        node.name = name.to_string();
        self.out.push(node);
        Ok(name.to_string())
    }

    /// Unrolls loop `n` whose inputs are `inputs`; returns its outputs.
    fn unroll(
        &mut self,
        n: &NodeDef,
        name: &str,
        inputs: Vec<Sym>,
        depth: usize,
    ) -> Result<Vec<Sym>> {
        if depth >= MAX_DEPTH {
            return Err(loop_error(n, format!("loops nest deeper than {MAX_DEPTH}")));
        }
        let function = |attr: &str| -> Result<&FunctionDef> {
            match n.attr.get(attr).and_then(|a| a.value.as_ref()) {
                Some(Value::Func(f)) => {
                    self.library.get(f.name.as_str()).copied().ok_or_else(|| {
                        loop_error(
                            n,
                            format!(
                                "its {attr} function {:?} is missing from the library",
                                f.name
                            ),
                        )
                    })
                }
                _ => Err(loop_error(n, format!("it names no {attr} function"))),
            }
        };
        let (body, cond) = (function("body")?, function("cond")?);
        let args: Vec<String> = (0..inputs.len()).map(|i| format!("{ARG}{i}:0")).collect();
        let flat = |f: &FunctionDef, prefix: &str| {
            Inliner::flatten(self.functions, self.op_defs, f, prefix, &args)
                .map_err(|e| loop_error(n, format!("its {prefix} function: {e}")))
        };
        let (body_nodes, body_outs) = flat(body, "body")?;
        let (cond_nodes, cond_outs) = flat(cond, "cond")?;
        if body_outs.len() != inputs.len() || cond_outs.len() != 1 {
            return Err(loop_error(
                n,
                format!(
                    "its body returns {} values for {} loop variables, its condition {}",
                    body_outs.len(),
                    inputs.len(),
                    cond_outs.len()
                ),
            ));
        }
        let mut state = inputs;
        for trip in 0.. {
            let mut env = Env::with_args(&state);
            self.run(
                &cond_nodes,
                &mut env,
                &format!("{name}/cond{trip}"),
                depth + 1,
            )?;
            let go = match env.lookup(&cond_outs[0]) {
                Some(Sym::Known(k, _)) => k.as_scalar(),
                _ => None,
            }
            .ok_or_else(|| loop_error(n, "its condition depends on values only known when the model runs, so its trip count is not constant and it cannot be unrolled (recurrent layers need a fixed sequence length)"))?;
            if go == 0 {
                break;
            }
            if trip >= MAX_TRIPS {
                return Err(loop_error(
                    n,
                    format!("it runs more than {MAX_TRIPS} times"),
                ));
            }
            let mut env = Env::with_args(&state);
            self.run(&body_nodes, &mut env, &format!("{name}/{trip}"), depth + 1)?;
            state = body_outs
                .iter()
                .map(|o| {
                    env.lookup(o).ok_or_else(|| {
                        loop_error(n, format!("its body output {o} is produced by no node"))
                    })
                })
                .collect::<Result<_>>()?;
        }
        Ok(state)
    }
}

/// Shared list items are reference-counted: a list's slots are copied on every write.
pub(crate) type Item = Rc<str>;
