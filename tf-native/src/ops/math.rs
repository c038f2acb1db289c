//! Element-wise and matrix ops Keras graphs use that tract-tensorflow lacks: Erf, Erfc (exact
//! gelu), Sqrt (Keras' Normalization layer), SquaredDifference (LayerNormalization's variance), StopGradient (an identity at
//! inference), SelectV2 (broadcasting where), BatchMatMul{,V2,V3} (numpy-style batched matmul).

use tract_tensorflow::model::TfOpRegister;
use tract_tensorflow::tract_hir::internal::*;
use tract_tensorflow::tract_hir::ops::matmul::MatMulInference;
use tract_tensorflow::tract_hir::tract_core::ops::change_axes::wire_with_rank_broadcast;
use tract_tensorflow::tract_hir::tract_core::ops::math;

pub fn register(reg: &mut TfOpRegister) {
    reg.insert("Erf", |_, _| Ok(math::erf().into_hir()));
    reg.insert("Erfc", |_, _| Ok(expand(Erfc)));
    reg.insert("Sqrt", |_, _| Ok(math::sqrt().into_hir()));
    reg.insert("SquaredDifference", |_, _| Ok(expand(SquaredDifference)));
    reg.insert("StopGradient", |_, _| {
        Ok(Box::new(
            tract_tensorflow::tract_hir::ops::identity::Identity,
        ))
    });
    reg.insert("SelectV2", |_, _| {
        Ok(expand(tract_tensorflow::tract_hir::ops::logic::Iff))
    });
    for op in ["BatchMatMul", "BatchMatMulV2", "BatchMatMulV3"] {
        reg.insert(op, |_, node| {
            let adj_x = node.get_attr_opt_bool("adj_x")?.unwrap_or(false);
            let adj_y = node.get_attr_opt_bool("adj_y")?.unwrap_or(false);
            Ok(expand(
                MatMulInference::default()
                    .with_a_trans(adj_x)
                    .with_b_trans(adj_y),
            ))
        });
    }
}

/// 1 - erf(x).
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
struct Erfc;

impl Expansion for Erfc {
    fn name(&self) -> StaticName {
        "Erfc".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 1)?;
        check_output_arity(outputs, 1)?;
        s.equals(&inputs[0].datum_type, &outputs[0].datum_type)?;
        s.equals(&inputs[0].shape, &outputs[0].shape)
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        let dt = model.outlet_fact(inputs[0])?.datum_type;
        let erf = model.wire_node(format!("{prefix}.erf"), math::erf(), inputs)?;
        let one = model.add_const(
            format!("{prefix}.one"),
            tensor0(1f32).cast_to_dt(dt)?.into_owned(),
        )?;
        wire_with_rank_broadcast(prefix, model, math::sub(), &[one, erf[0]])
    }
}

/// (a - b)², broadcasting.
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
struct SquaredDifference;

impl Expansion for SquaredDifference {
    fn name(&self) -> StaticName {
        "SquaredDifference".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 2)?;
        check_output_arity(outputs, 1)?;
        s.equals(&inputs[0].datum_type, &inputs[1].datum_type)?;
        s.equals(&inputs[0].datum_type, &outputs[0].datum_type)?;
        s.given_2(&inputs[0].shape, &inputs[1].shape, move |s, a, b| {
            let shape =
                tract_tensorflow::tract_hir::tract_core::broadcast::multi_broadcast(&[&a, &b])?;
            s.equals(&outputs[0].shape, shape)
        })
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        let diff = wire_with_rank_broadcast(format!("{prefix}.sub"), model, math::sub(), inputs)?;
        model.wire_node(prefix, math::square(), &diff)
    }
}
