//! Array ops: ConcatV2 with a negative axis (tract-tensorflow casts the axis to usize, so
//! Keras' `axis=-1` turns into an endless rule loop), GatherV2 with i32 indices (tract's Gather
//! wants i64), Split, which it lacks, and Fill with a symbolic shape (Keras' zero initial RNN
//! states are `Fill([batch, units], 0)`; tract-tensorflow's Fill needs concrete dimensions).

use tract_tensorflow::model::TfOpRegister;
use tract_tensorflow::tract_hir::internal::*;
use tract_tensorflow::tract_hir::ops::array::{MultiBroadcastTo, Split as HirSplit, TypedConcat};

pub fn register(reg: &mut TfOpRegister) {
    reg.insert("ConcatV2", |_, _| Ok(expand(ConcatV2)));
    reg.insert("GatherV2", |_, node| {
        let batch_dims: i64 = node.get_attr_opt_int("batch_dims")?.unwrap_or(0);
        if batch_dims != 0 {
            bail!(
                "GatherV2 {}: batch_dims {batch_dims} is not supported",
                node.name
            );
        }
        Ok(expand(GatherV2))
    });
    reg.insert("Fill", |_, _| Ok(expand(Fill)));
    reg.insert("Split", |_, node| {
        let n: i64 = node.get_attr_int("num_split")?;
        let n = usize::try_from(n)
            .ok()
            .filter(|&n| n > 0)
            .with_context(|| format!("Split {}: num_split {n} must be positive", node.name))?;
        Ok(expand(Split { outputs: n }))
    });
}

/// The constant axis input, resolved against the rank.
fn axis_of(value: &Tensor, rank: i64) -> TractResult<usize> {
    let axis = value
        .cast_to::<i64>()?
        .try_as_plain_ram()?
        .to_scalar::<i64>()
        .copied()?;
    let resolved = if axis < 0 { axis + rank } else { axis };
    if resolved < 0 || resolved >= rank.max(1) {
        bail!("axis {axis} is out of range for rank {rank}");
    }
    Ok(resolved as usize)
}

#[derive(Debug, Clone, Hash, PartialEq, Eq)]
struct ConcatV2;

impl Expansion for ConcatV2 {
    fn name(&self) -> StaticName {
        "ConcatV2".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_output_arity(outputs, 1)?;
        if inputs.len() < 2 {
            bail!("ConcatV2 needs at least one value and an axis");
        }
        let n = inputs.len() - 1;
        // Shapes (TDim) concatenated with i32 constants: the output takes the common type.
        s.given_all((0..n).map(|i| &inputs[i].datum_type), move |s, dts| {
            if let Some(dt) = DatumType::super_type_for(dts) {
                s.equals(&outputs[0].datum_type, dt)?;
            }
            Ok(())
        })?;
        s.equals_all((0..n).map(|i| (&inputs[i].rank).bex()).collect())?;
        s.equals(&inputs[n].rank, 0)?;
        s.equals(&outputs[0].rank, &inputs[0].rank)?;
        s.given_2(&inputs[n].value, &inputs[0].rank, move |s, axis, rank| {
            let axis = axis_of(&axis, rank)?;
            for d in (0..rank as usize).filter(|&d| d != axis) {
                s.equals_all((0..n).map(|i| (&inputs[i].shape[d]).bex()).collect())?;
                s.equals(&inputs[0].shape[d], &outputs[0].shape[d])?;
            }
            let mut concat_dim = -1 * outputs[0].shape[axis].bex();
            for input in inputs.iter().take(n) {
                concat_dim = concat_dim + input.shape[axis].bex();
            }
            s.equals_zero(concat_dim)
        })
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        let (axis_input, values) = inputs.split_last().context("ConcatV2 without inputs")?;
        let axis = model
            .outlet_fact(*axis_input)?
            .konst
            .clone()
            .context("ConcatV2 axis must be constant")?;
        let rank = model.outlet_fact(values[0])?.rank() as i64;
        let axis = axis_of(&axis, rank)?;
        let dts = values
            .iter()
            .map(|v| Ok(model.outlet_fact(*v)?.datum_type))
            .collect::<TractResult<TVec<_>>>()?;
        let dt =
            DatumType::super_type_for(dts.iter()).context("ConcatV2 inputs have no common type")?;
        let values =
            tract_tensorflow::tract_hir::ops::binary::wire_cast(prefix, model, values, dt)?;
        model.wire_node(prefix, TypedConcat::new(axis), &values)
    }
}

/// TF Split: `split_dim` (a constant) then the value, cut into `outputs` equal parts.
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
struct Split {
    outputs: usize,
}

impl Expansion for Split {
    fn name(&self) -> StaticName {
        "Split".into()
    }

    fn nboutputs(&self) -> TractResult<usize> {
        Ok(self.outputs)
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 2)?;
        check_output_arity(outputs, self.outputs)?;
        for o in outputs {
            s.equals(&inputs[1].datum_type, &o.datum_type)?;
            s.equals(&inputs[1].rank, &o.rank)?;
        }
        s.given_2(&inputs[0].value, &inputs[1].shape, move |s, axis, shape| {
            let axis = axis_of(&axis, shape.len() as i64)?;
            let part = shape[axis].clone() / self.outputs as u64;
            for o in outputs {
                for (d, dim) in shape.iter().enumerate() {
                    let dim = if d == axis { part.clone() } else { dim.clone() };
                    s.equals(&o.shape[d], dim)?;
                }
            }
            Ok(())
        })
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        let axis = model
            .outlet_fact(inputs[0])?
            .konst
            .clone()
            .context("Split axis must be constant")?;
        let rank = model.outlet_fact(inputs[1])?.rank() as i64;
        let axis = axis_of(&axis, rank)?;
        HirSplit::new(axis as isize, self.outputs, None).wire(prefix, model, &inputs[1..])
    }
}

/// GatherV2(params, indices, axis) with batch_dims 0.
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
struct GatherV2;

impl Expansion for GatherV2 {
    fn name(&self) -> StaticName {
        "GatherV2".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 3)?;
        check_output_arity(outputs, 1)?;
        s.equals(&inputs[0].datum_type, &outputs[0].datum_type)?;
        s.equals(&inputs[2].rank, 0)?;
        s.given_3(
            &inputs[0].shape,
            &inputs[1].shape,
            &inputs[2].value,
            move |s, params, indices, axis| {
                let axis = axis_of(&axis, params.len() as i64)?;
                let mut shape: TVec<TDim> = params[..axis].into();
                shape.extend(indices.iter().cloned());
                shape.extend(params[axis + 1..].iter().cloned());
                s.equals(&outputs[0].shape, shape)
            },
        )
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        let axis = model
            .outlet_fact(inputs[2])?
            .konst
            .clone()
            .context("GatherV2 axis must be constant")?;
        let rank = model.outlet_fact(inputs[0])?.rank();
        let axis = axis_of(&axis, rank as i64)?;
        let indices = model.wire_node(
            format!("{prefix}.indices"),
            tract_tensorflow::tract_hir::tract_core::ops::cast::cast(DatumType::I64),
            &[inputs[1]],
        )?[0];
        let op = tract_tensorflow::tract_hir::ops::array::Gather::new(axis as i64).to_type_op(rank);
        model.wire_node(prefix, op, &[inputs[0], indices])
    }
}

/// Fill(dims, value): the scalar `value` broadcast to `dims`, which may hold symbols.
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
struct Fill;

impl Expansion for Fill {
    fn name(&self) -> StaticName {
        "Fill".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 2)?;
        check_output_arity(outputs, 1)?;
        s.equals(&outputs[0].datum_type, &inputs[1].datum_type)?;
        s.equals(&inputs[0].rank, 1)?;
        s.equals(&inputs[1].rank, 0)?;
        s.given(&inputs[0].value, move |s, dims| {
            let dims = dims.cast_to::<TDim>()?;
            let dims = dims.try_as_plain_ram()?.as_slice::<TDim>()?.to_vec();
            s.equals(&outputs[0].shape, ShapeFactoid::from(dims))
        })
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        // The scalar gets the output's rank first: tract's EinSum declutter replaces a
        // broadcast input by the broadcast's source, assuming both have the same rank.
        let rank = model
            .outlet_fact(inputs[0])?
            .shape
            .as_concrete()
            .and_then(|s| s.first().copied())
            .context("Fill dims must have a known length")?;
        let mut value = inputs[1];
        for axis in 0..rank {
            value = model.wire_node(format!("{prefix}.axis{axis}"), AxisOp::Add(0), &[value])?[0];
        }
        MultiBroadcastTo.wire(prefix, model, &[value, inputs[0]])
    }
}
