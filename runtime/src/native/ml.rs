//! The `ai.onnx.ml` classifier head skl2onnx emits (`LinearClassifier`, then `Normalizer`),
//! as one tract operator each instead of tract-onnx's expansions (a matmul, a bias add,
//! softmax, argmax, an axis removal, a cast and a label lookup; abs, a sum and a divide).
//!
//! On a small model the graph's cost is per node, not per flop: the skl2onnx iris logistic
//! regression runs 15 nodes through tract-onnx's expansions and 2 fused. The arithmetic is the ONNX-ML
//! definition, in f32 like tract's: scores `x · Wᵀ + b`, the post transform (NONE,
//! SOFTMAX, LOGISTIC), the label of the first highest score; L1/L2/MAX row normalisation.
//! Forms this does not cover (the binary single-model layout, PROBIT, SOFTMAX_ZERO, no
//! intercepts) go to tract-onnx's own parser unchanged.

use std::sync::OnceLock;
use tract_onnx::model::{OnnxOpRegister, ParsingContext};
use tract_onnx::pb::NodeProto;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_hir::internal::*;

/// tract-onnx's operator builder signature (its alias is private).
type OpBuilder =
    fn(&ParsingContext, &NodeProto) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)>;

static TRACT_LINEAR_CLASSIFIER: OnceLock<OpBuilder> = OnceLock::new();

/// Replaces `LinearClassifier` and `Normalizer` in `reg`, keeping tract's own
/// `LinearClassifier` parser for the forms not fused here.
pub fn register(reg: &mut OnnxOpRegister) {
    if let Some(original) = reg.0.get("LinearClassifier") {
        let _ = TRACT_LINEAR_CLASSIFIER.set(*original);
    }
    reg.insert("LinearClassifier", linear_classifier);
    reg.insert("Normalizer", normalizer);
}

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
enum PostTransform {
    None,
    Softmax,
    Logistic,
}

fn linear_classifier(
    ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    match parse_linear_classifier(node)? {
        Some(op) => Ok((expand(op), vec![])),
        None => match TRACT_LINEAR_CLASSIFIER.get() {
            Some(tract) => tract(ctx, node),
            None => bail!("LinearClassifier form not supported"),
        },
    }
}

/// The fused op's parameters, or `None` for a form left to tract.
fn parse_linear_classifier(node: &NodeProto) -> TractResult<Option<LinearClassifierHead>> {
    let ints = node.get_attr_opt_slice::<i64>("classlabels_ints")?;
    let strs = node.get_attr_opt_tvec::<&str>("classlabels_strings")?;
    let labels = match (ints, strs) {
        (Some(n), None) => rctensor1(n),
        (None, Some(n)) => rctensor1(&n.iter().map(|d| d.to_string()).collect::<Vec<_>>()),
        _ => return Ok(None),
    };
    let classes = labels.len();
    let coefficients: Vec<f32> = node.get_attr_vec("coefficients")?;
    let Some(intercepts) = node.get_attr_opt_vec::<f32>("intercepts")? else {
        return Ok(None);
    };
    let post = match node
        .get_attr_opt::<String>("post_transform")?
        .as_deref()
        .unwrap_or("NONE")
    {
        "NONE" => PostTransform::None,
        "SOFTMAX" => PostTransform::Softmax,
        "LOGISTIC" => PostTransform::Logistic,
        _ => return Ok(None),
    };
    if classes < 2 || intercepts.len() != classes || !coefficients.len().is_multiple_of(classes) {
        return Ok(None);
    }
    let features = coefficients.len() / classes;
    Ok(Some(LinearClassifierHead {
        labels,
        coefficients: rctensor2_from(&coefficients, classes, features)?,
        intercepts: rctensor1(&intercepts),
        post,
        classes,
        features,
    }))
}

fn rctensor2_from(values: &[f32], rows: usize, cols: usize) -> TractResult<Arc<Tensor>> {
    Ok(tensor1(values).into_shape(&[rows, cols])?.into_arc_tensor())
}

/// `LinearClassifier` as one node: input `[N, F]` (or `[F]`), outputs the labels `[N]` and
/// the scores `[N, classes]`.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct LinearClassifierHead {
    labels: Arc<Tensor>,
    /// `[classes, features]`, one row per class.
    coefficients: Arc<Tensor>,
    intercepts: Arc<Tensor>,
    post: PostTransform,
    classes: usize,
    features: usize,
}

impl Expansion for LinearClassifierHead {
    fn name(&self) -> StaticName {
        "LinearClassifier".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 1)?;
        check_output_arity(outputs, 2)?;
        s.equals(&outputs[0].datum_type, self.labels.datum_type())?;
        s.equals(&outputs[1].datum_type, DatumType::F32)?;
        s.equals(&outputs[0].rank, 1)?;
        s.equals(&outputs[1].rank, 2)?;
        s.equals(&outputs[0].shape[0], &inputs[0].shape[0])?;
        s.equals(&outputs[1].shape[0], &inputs[0].shape[0])?;
        s.equals(&outputs[1].shape[1], (self.classes as i64).to_dim())?;
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
        Ok(2)
    }
}

impl Op for LinearClassifierHead {
    fn name(&self) -> StaticName {
        "LinearClassifierHead".into()
    }

    op_as_typed_op!();
}

impl EvalOp for LinearClassifierHead {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        let x = input.cast_to::<f32>()?;
        let x = x.try_as_plain_ram()?.as_slice::<f32>()?;
        let (c, f) = (self.classes, self.features);
        ensure!(
            x.len().is_multiple_of(f),
            "LinearClassifier takes {f} features per row, got {} values",
            x.len()
        );
        let n = x.len() / f;
        let w = self.coefficients.try_as_plain_ram()?.as_slice::<f32>()?;
        let b = self.intercepts.try_as_plain_ram()?.as_slice::<f32>()?;
        let mut scores = vec![0f32; n * c];
        let mut winners = Vec::with_capacity(n);
        for (row, out) in x.chunks_exact(f).zip(scores.chunks_exact_mut(c)) {
            for ((score, weights), bias) in out.iter_mut().zip(w.chunks_exact(f)).zip(b) {
                *score = bias + row.iter().zip(weights).map(|(a, w)| a * w).sum::<f32>();
            }
            match self.post {
                PostTransform::None => {}
                PostTransform::Softmax => {
                    let max = out.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                    let mut sum = 0f32;
                    for s in out.iter_mut() {
                        *s = (*s - max).exp();
                        sum += *s;
                    }
                    out.iter_mut().for_each(|s| *s /= sum);
                }
                PostTransform::Logistic => {
                    out.iter_mut().for_each(|s| *s = 1.0 / (1.0 + (-*s).exp()));
                }
            }
            // The first of equal highest scores, as ArgMax does.
            let mut best = 0;
            for (k, s) in out.iter().enumerate() {
                if *s > out[best] {
                    best = k;
                }
            }
            winners.push(best);
        }
        let labels = if self.labels.datum_type() == DatumType::I64 {
            let all = self.labels.try_as_plain_ram()?.as_slice::<i64>()?;
            tensor1(&winners.iter().map(|&k| all[k]).collect::<Vec<i64>>())
        } else {
            let all = self.labels.try_as_plain_ram()?.as_slice::<String>()?;
            tensor1(
                &winners
                    .iter()
                    .map(|&k| all[k].clone())
                    .collect::<Vec<String>>(),
            )
        };
        let scores = tensor1(&scores).into_shape(&[n, c])?;
        Ok(tvec!(labels.into_tvalue(), scores.into_tvalue()))
    }
}

impl TypedOp for LinearClassifierHead {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let n = inputs[0].shape[0].clone();
        Ok(tvec!(
            self.labels.datum_type().fact(std::slice::from_ref(&n)),
            f32::fact(&[n, self.classes.to_dim()])
        ))
    }

    as_op!();
}

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
enum Norm {
    Max,
    L1,
    L2,
}

fn normalizer(
    _ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let norm: String = node
        .get_attr_opt("norm")?
        .unwrap_or_else(|| "MAX".to_string());
    let norm = match norm.to_ascii_uppercase().as_str() {
        "MAX" => Norm::Max,
        "L1" => Norm::L1,
        "L2" => Norm::L2,
        other => bail!("Invalid norm kind: {other}"),
    };
    Ok((expand(Normalizer { norm }), vec![]))
}

const EPS: f32 = 1e-12;

/// `Normalizer` as one node: each row (last axis) divided by its largest absolute value,
/// L1 or L2 norm; f32 out.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct Normalizer {
    norm: Norm,
}

impl Expansion for Normalizer {
    fn name(&self) -> StaticName {
        "Normalizer".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 1)?;
        check_output_arity(outputs, 1)?;
        s.equals(&outputs[0].datum_type, DatumType::F32)?;
        s.equals(&inputs[0].shape, &outputs[0].shape)?;
        Ok(())
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        model.wire_node(prefix, self.clone(), inputs)
    }
}

impl Op for Normalizer {
    fn name(&self) -> StaticName {
        "Normalizer".into()
    }

    op_as_typed_op!();
}

impl EvalOp for Normalizer {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        let shape: TVec<usize> = input.shape().into();
        let mut x = input.cast_to::<f32>()?.into_owned();
        let width = shape.last().copied().unwrap_or(1).max(1);
        for row in x
            .try_as_plain_ram_mut()?
            .as_slice_mut::<f32>()?
            .chunks_exact_mut(width)
        {
            // As tract-onnx's expansion: the denominator is at least 1e-12.
            let norm = match self.norm {
                Norm::Max => row.iter().map(|v| v.abs()).fold(0f32, f32::max).max(EPS),
                Norm::L1 => row.iter().map(|v| v.abs()).sum::<f32>().max(EPS),
                Norm::L2 => row.iter().map(|v| v * v).sum::<f32>().max(EPS).sqrt(),
            };
            row.iter_mut().for_each(|v| *v /= norm);
        }
        Ok(tvec!(x.into_tvalue()))
    }
}

impl TypedOp for Normalizer {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        Ok(tvec!(f32::fact(inputs[0].shape.iter())))
    }

    as_op!();
}
