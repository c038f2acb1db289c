//! Tree ensembles run by our own engine (`tree-ensemble`): the `ai.onnx.ml` tree operators
//! (`TreeEnsembleClassifier`, `TreeEnsembleRegressor` of opsets 1/3, `TreeEnsemble` of opset
//! 5) replace tract-onnx's generic implementations, and XGBoost and LightGBM models saved by
//! their libraries become a one-node graph ([`saved_model_graph`]).
//!
//! The engine flattens the trees at load and walks a block of rows through them together;
//! tract's implementation walks one row through one tree at a time, which costs tens of
//! times more on a 100-tree forest. Attributes are read from the `NodeProto` into the
//! engine's attribute structs, so validation and error messages are the engine's: a
//! malformed ensemble (wrong lengths, cycles, node ids out of range) fails the load.

use std::cell::{Cell, RefCell};
use std::sync::Arc;
use std::time::Instant;

use tract_onnx::model::{OnnxOpRegister, ParsingContext};
use tract_onnx::pb::NodeProto;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_hir::internal::*;

use tree_ensemble::onnx_attrs::{self, TreeAttributes, TreeEnsembleV5Attributes};
use tree_ensemble::{Forest, Labels, Scratch};

/// The input and output names of a saved XGBoost or LightGBM model's graph.
pub const SAVED_INPUT: &str = "input";
pub const SAVED_OUTPUT: &str = "predictions";

/// Replaces tract-onnx's tree operators in `reg` with the fused engine.
pub fn register(reg: &mut OnnxOpRegister) {
    reg.insert("TreeEnsembleClassifier", classifier);
    reg.insert("TreeEnsembleRegressor", regressor);
    reg.insert("TreeEnsemble", tree_ensemble);
}

/// A graph answering what the library's own `predict` answers for `forest`: one input
/// `[N, features]` (f32, NaN for a missing value), one output, `[N]` for a single target or
/// a class index, `[N, targets]` otherwise.
pub fn saved_model_graph(forest: Forest) -> TractResult<TypedModel> {
    let mut model = TypedModel::default();
    let n = model.symbols.sym("N").to_dim();
    let width = forest.input_width().to_dim();
    let x = model.add_source(SAVED_INPUT, f32::fact([n, width]))?;
    let op = FusedTrees::new(forest, Form::Library);
    let out = model.wire_node(SAVED_OUTPUT, op, &[x])?;
    model.select_output_outlets(&out)?;
    model.set_outlet_label(out[0], SAVED_OUTPUT.to_string())?;
    Ok(model)
}

fn ints(node: &NodeProto, name: &str) -> TractResult<Vec<i64>> {
    Ok(node
        .get_attr_opt_slice::<i64>(name)?
        .map(<[i64]>::to_vec)
        .unwrap_or_default())
}

fn floats(node: &NodeProto, name: &str) -> TractResult<Vec<f32>> {
    Ok(node
        .get_attr_opt_slice::<f32>(name)?
        .map(<[f32]>::to_vec)
        .unwrap_or_default())
}

fn strings(node: &NodeProto, name: &str) -> TractResult<Vec<String>> {
    Ok(node
        .get_attr_opt_tvec::<String>(name)?
        .map(|v| v.into_vec())
        .unwrap_or_default())
}

/// A tensor-valued attribute (`*_as_tensor`, opset-5 weights and splits) as f64 values.
fn tensor(ctx: &ParsingContext, node: &NodeProto, name: &str) -> TractResult<Vec<f64>> {
    match node.get_attr_opt::<&tract_onnx::pb::TensorProto>(name)? {
        None => Ok(Vec::new()),
        Some(proto) => {
            let t = ctx.load_tensor(proto)?.cast_to::<f64>()?.into_owned();
            Ok(t.try_as_plain_ram()?.as_slice::<f64>()?.to_vec())
        }
    }
}

fn v3_attributes(
    ctx: &ParsingContext,
    node: &NodeProto,
    prefix: &str,
) -> TractResult<TreeAttributes> {
    Ok(TreeAttributes {
        nodes_treeids: ints(node, "nodes_treeids")?,
        nodes_nodeids: ints(node, "nodes_nodeids")?,
        nodes_featureids: ints(node, "nodes_featureids")?,
        nodes_values: floats(node, "nodes_values")?,
        nodes_values_as_tensor: tensor(ctx, node, "nodes_values_as_tensor")?,
        nodes_modes: strings(node, "nodes_modes")?,
        nodes_truenodeids: ints(node, "nodes_truenodeids")?,
        nodes_falsenodeids: ints(node, "nodes_falsenodeids")?,
        nodes_missing_value_tracks_true: ints(node, "nodes_missing_value_tracks_true")?,
        weight_treeids: ints(node, &format!("{prefix}_treeids"))?,
        weight_nodeids: ints(node, &format!("{prefix}_nodeids"))?,
        weight_ids: ints(node, &format!("{prefix}_ids"))?,
        weights: floats(node, &format!("{prefix}_weights"))?,
        weights_as_tensor: tensor(ctx, node, &format!("{prefix}_weights_as_tensor"))?,
        classlabels_int64s: ints(node, "classlabels_int64s")?,
        classlabels_strings: strings(node, "classlabels_strings")?,
        base_values: floats(node, "base_values")?,
        base_values_as_tensor: tensor(ctx, node, "base_values_as_tensor")?,
        n_targets: node.get_attr_opt::<i64>("n_targets")?,
        post_transform: node.get_attr_opt::<String>("post_transform")?,
        aggregate_function: node.get_attr_opt::<String>("aggregate_function")?,
    })
}

type Parsed = TractResult<(Box<dyn InferenceOp>, Vec<String>)>;

fn classifier(ctx: &ParsingContext, node: &NodeProto) -> Parsed {
    let forest = onnx_attrs::classifier(&v3_attributes(ctx, node, "class")?)?;
    Ok((expand(FusedTrees::onnx(forest)), vec![]))
}

fn regressor(ctx: &ParsingContext, node: &NodeProto) -> Parsed {
    let forest = onnx_attrs::regressor(&v3_attributes(ctx, node, "target")?)?;
    Ok((expand(FusedTrees::onnx(forest)), vec![]))
}

fn tree_ensemble(ctx: &ParsingContext, node: &NodeProto) -> Parsed {
    let a = TreeEnsembleV5Attributes {
        aggregate_function: node.get_attr_opt::<i64>("aggregate_function")?,
        leaf_targetids: ints(node, "leaf_targetids")?,
        leaf_weights: tensor(ctx, node, "leaf_weights")?,
        membership_values: tensor(ctx, node, "membership_values")?,
        n_targets: node.get_attr_opt::<i64>("n_targets")?,
        nodes_falseleafs: ints(node, "nodes_falseleafs")?,
        nodes_falsenodeids: ints(node, "nodes_falsenodeids")?,
        nodes_featureids: ints(node, "nodes_featureids")?,
        nodes_missing_value_tracks_true: ints(node, "nodes_missing_value_tracks_true")?,
        nodes_modes: tensor(ctx, node, "nodes_modes")?
            .into_iter()
            .map(|m| m as i64)
            .collect(),
        nodes_splits: tensor(ctx, node, "nodes_splits")?,
        nodes_trueleafs: ints(node, "nodes_trueleafs")?,
        nodes_truenodeids: ints(node, "nodes_truenodeids")?,
        post_transform: node.get_attr_opt::<i64>("post_transform")?,
        tree_roots: ints(node, "tree_roots")?,
    };
    Ok((
        expand(FusedTrees::onnx(onnx_attrs::tree_ensemble_v5(&a)?)),
        vec![],
    ))
}

/// What the fused node answers.
#[derive(Clone, Debug)]
enum Form {
    /// The ONNX operator's outputs: the labels `[N]` and scores `[N, classes]` of a
    /// classifier (`labels` set), the scores `[N, targets]` of a regressor.
    Onnx { labels: Option<Arc<Tensor>> },
    /// The library's `predict` (XGBoost, LightGBM).
    Library,
}

/// One node running a whole tree ensemble over a batch `[N, F]` (or `[F]`).
#[derive(Clone, Debug)]
struct FusedTrees {
    forest: Arc<Forest>,
    form: Form,
}

thread_local! {
    /// The engine's accumulators, reused by every run on this thread (they only grow, to
    /// a block of rows times the targets).
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
    /// Threads the run on this thread may use (see [`with_threads`]).
    static THREADS: Cell<usize> = const { Cell::new(1) };
    /// When the run on this thread must stop (see [`with_threads`]).
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// Rows evaluated between two looks at the deadline: a large batch of a large forest can
/// take longer than the call deadline in one operator.
const DEADLINE_ROWS: usize = 1024;

fn past_deadline() -> TractResult<()> {
    match DEADLINE.with(Cell::get) {
        Some(at) if Instant::now() >= at => Err(anyhow::Error::new(super::DeadlinePassed)),
        _ => Ok(()),
    }
}

/// Rows below which a batch is never split: each part must fill the engine's row blocks.
const MIN_SPLIT_ROWS: usize = 16;
/// Rows times trees below which a batch is never split: handing a part to another thread
/// costs a few microseconds, a fraction of the work only past this.
const MIN_SPLIT_WORK: usize = 4096;

/// Runs `f` (a graph's run) with `threads` threads allowed to its tree ensembles, which stop
/// between two chunks of rows once `deadline` has passed.
pub fn with_threads<R>(threads: usize, deadline: Option<Instant>, f: impl FnOnce() -> R) -> R {
    let before = THREADS.with(|t| t.replace(threads.max(1)));
    let deadline_before = DEADLINE.with(|d| d.replace(deadline));
    let result = f();
    THREADS.with(|t| t.set(before));
    DEADLINE.with(|d| d.set(deadline_before));
    result
}

/// Whether `op` is a tree ensemble, which splits a large batch over the threads allowed.
pub fn splits_work(op: &dyn TypedOp) -> bool {
    op.downcast_ref::<FusedTrees>().is_some()
}

impl FusedTrees {
    fn new(forest: Forest, form: Form) -> Self {
        FusedTrees {
            forest: Arc::new(forest),
            form,
        }
    }

    fn onnx(forest: Forest) -> Self {
        let labels = forest.labels().map(|l| match l {
            Labels::Int(v) => rctensor1(v),
            Labels::Str(v) => rctensor1(v),
        });
        Self::new(forest, Form::Onnx { labels })
    }

    fn labels(&self) -> Option<&Arc<Tensor>> {
        match &self.form {
            Form::Onnx { labels } => labels.as_ref(),
            Form::Library => None,
        }
    }

    /// The library's output shape for `n` rows.
    fn library_shape(&self, n: TDim) -> TVec<TDim> {
        if self.forest.predicts_class() || self.forest.output_width() == 1 {
            tvec![n]
        } else {
            tvec![n, self.forest.output_width().to_dim()]
        }
    }

    /// Scores `[n, width]` and the winning label index of each row. A large batch is split
    /// into one part per allowed thread (rayon's pool runs them).
    fn scores(&self, x: &[f32], n: usize, cols: usize) -> TractResult<(Tensor, Vec<i64>)> {
        let width = self.forest.output_width();
        let mut scores = Tensor::zero::<f32>(&[n, width])?;
        let mut winners = vec![0i64; n];
        {
            let mut view = scores.try_as_plain_ram_mut()?;
            let out = view.as_slice_mut::<f32>()?;
            let threads = THREADS.with(Cell::get);
            let parts = if n >= 2 * MIN_SPLIT_ROWS
                && n.saturating_mul(self.forest.n_trees()) >= MIN_SPLIT_WORK
            {
                threads.min(n / MIN_SPLIT_ROWS).max(1)
            } else {
                1
            };
            if parts == 1 {
                let blocks = x
                    .chunks(DEADLINE_ROWS * cols)
                    .zip(out.chunks_mut(DEADLINE_ROWS * width))
                    .zip(winners.chunks_mut(DEADLINE_ROWS));
                for ((x, out), winners) in blocks {
                    past_deadline()?;
                    self.predict_part(x, winners.len(), cols, out, winners)?;
                }
            } else {
                self.predict_shared(x, n, cols, out, &mut winners, parts)?;
            }
        }
        Ok((scores, winners))
    }

    /// Rows handed out in chunks of [`MIN_SPLIT_ROWS`] to this thread and `parts - 1` pool
    /// threads, each taking the next chunk when done with one: a pool thread that wakes late
    /// leaves its share to the others instead of making them wait.
    fn predict_shared(
        &self,
        x: &[f32],
        n: usize,
        cols: usize,
        out: &mut [f32],
        winners: &mut [i64],
        parts: usize,
    ) -> TractResult<()> {
        let deadline = DEADLINE.with(Cell::get);
        use std::sync::Mutex;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let width = self.forest.output_width();
        let rows = MIN_SPLIT_ROWS;
        type Chunk<'a> = ((&'a [f32], &'a mut [f32]), &'a mut [i64]);
        let chunks: Vec<Mutex<Option<Chunk<'_>>>> = x
            .chunks(rows * cols)
            .zip(out.chunks_mut(rows * width))
            .zip(winners.chunks_mut(rows))
            .map(|c| Mutex::new(Some(c)))
            .collect();
        debug_assert_eq!(chunks.len(), n.div_ceil(rows));
        let next = AtomicUsize::new(0);
        let failed = Mutex::new(None);
        let work = || {
            while let Some(slot) = chunks.get(next.fetch_add(1, Ordering::Relaxed)) {
                // Pool threads see this run's deadline through the capture, not their own
                // thread-local; past it, the chunks left are not evaluated.
                if deadline.is_some_and(|at| Instant::now() >= at) {
                    *failed.lock().unwrap_or_else(|p| p.into_inner()) =
                        Some(anyhow::Error::new(super::DeadlinePassed));
                    break;
                }
                let taken = slot.lock().unwrap_or_else(|p| p.into_inner()).take();
                if let Some(((x, out), winners)) = taken
                    && let Err(e) = self.predict_part(x, winners.len(), cols, out, winners)
                {
                    *failed.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                }
            }
        };
        rayon::in_place_scope(|scope| {
            for _ in 1..parts {
                scope.spawn(|_| work());
            }
            work();
        });
        match failed.into_inner().unwrap_or_else(|p| p.into_inner()) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn predict_part(
        &self,
        x: &[f32],
        n: usize,
        cols: usize,
        scores: &mut [f32],
        winners: &mut [i64],
    ) -> TractResult<()> {
        SCRATCH.with(|scratch| {
            self.forest
                .predict(x, n, cols, scores, Some(winners), &mut scratch.borrow_mut())
        })?;
        Ok(())
    }
}

// Identity of the loaded forest is identity of the op (forests are immutable once built).
impl PartialEq for FusedTrees {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.forest, &other.forest)
    }
}
impl Eq for FusedTrees {}
impl std::hash::Hash for FusedTrees {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (Arc::as_ptr(&self.forest) as usize).hash(state)
    }
}

impl Expansion for FusedTrees {
    fn name(&self) -> StaticName {
        "TreeEnsemble".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 1)?;
        let width = (self.forest.output_width() as i64).to_dim();
        let scores = match self.labels() {
            Some(labels) => {
                check_output_arity(outputs, 2)?;
                s.equals(&outputs[0].datum_type, labels.datum_type())?;
                s.equals(&outputs[0].rank, 1)?;
                s.equals(&outputs[0].shape[0], &inputs[0].shape[0])?;
                &outputs[1]
            }
            None => {
                check_output_arity(outputs, 1)?;
                &outputs[0]
            }
        };
        s.equals(&scores.datum_type, DatumType::F32)?;
        s.equals(&scores.rank, 2)?;
        s.equals(&scores.shape[0], &inputs[0].shape[0])?;
        s.equals(&scores.shape[1], width)?;
        Ok(())
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        let mut x = inputs[0];
        if model.outlet_fact(x)?.rank() == 1 {
            x = model.wire_node(format!("{prefix}.add_batch_axis"), AxisOp::Add(0), &[x])?[0];
        }
        model.wire_node(prefix, self.clone(), &[x])
    }

    fn nboutputs(&self) -> TractResult<usize> {
        Ok(if self.labels().is_some() { 2 } else { 1 })
    }
}

impl Op for FusedTrees {
    fn name(&self) -> StaticName {
        "FusedTreeEnsemble".into()
    }

    op_as_typed_op!();
}

impl EvalOp for FusedTrees {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        ensure!(
            input.rank() == 2,
            "tree ensemble input must be [rows, features]"
        );
        let (n, cols) = (input.shape()[0], input.shape()[1]);
        let x = input.cast_to::<f32>()?;
        let x = x.try_as_plain_ram()?.as_slice::<f32>()?;
        let (scores, winners) = self.scores(x, n, cols)?;
        match &self.form {
            Form::Library if self.forest.predicts_class() => {
                let classes: Vec<f32> = winners.iter().map(|&k| k as f32).collect();
                Ok(tvec!(tensor1(&classes).into_tvalue()))
            }
            Form::Library if self.forest.output_width() == 1 => {
                Ok(tvec!(scores.into_shape(&[n])?.into_tvalue()))
            }
            Form::Library => Ok(tvec!(scores.into_tvalue())),
            Form::Onnx { labels: None } => Ok(tvec!(scores.into_tvalue())),
            Form::Onnx {
                labels: Some(labels),
            } => {
                let labels = if labels.datum_type() == DatumType::I64 {
                    tensor1(&winners)
                } else {
                    let all = labels.try_as_plain_ram()?.as_slice::<String>()?;
                    let mut names = Vec::with_capacity(winners.len());
                    for &k in &winners {
                        names.push(all.get(k as usize).cloned().ok_or_else(|| {
                            format_err!("class index {k} out of {} labels", all.len())
                        })?);
                    }
                    tensor1(&names)
                };
                Ok(tvec!(labels.into_tvalue(), scores.into_tvalue()))
            }
        }
    }
}

impl TypedOp for FusedTrees {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let n = inputs[0].shape[0].clone();
        let scores = f32::fact([n.clone(), self.forest.output_width().to_dim()]);
        Ok(match &self.form {
            Form::Library => tvec!(f32::fact(self.library_shape(n))),
            Form::Onnx { labels: Some(l) } => {
                tvec!(l.datum_type().fact(std::slice::from_ref(&n)), scores)
            }
            Form::Onnx { labels: None } => tvec!(scores),
        })
    }

    as_op!();
}
