//! Prod that also folds shapes. Keras' Dense on rank-3 inputs (Tensordot) reshapes to
//! `[Prod(Shape(x)[free]), Prod(Shape(x)[axes])]`; the shape holds the symbolic batch dimension
//! (TDim), which tract-tensorflow's Prod can neither infer nor fold, so the Reshape sees a
//! "variable" shape. Here a Prod of a known TDim tensor becomes a constant at load.

use tract_tensorflow::model::TfOpRegister;
use tract_tensorflow::tract_core::ndarray::Axis;
use tract_tensorflow::tract_hir::internal::*;
use tract_tensorflow::tract_hir::ops::nn::{Reduce, Reducer};

pub fn register(reg: &mut TfOpRegister) {
    reg.insert("Prod", |_, node| {
        let keep_dims = node.get_attr_opt_bool("keep_dims")?.unwrap_or(false);
        Ok(expand(Prod { keep_dims }))
    });
}

#[derive(Debug, Clone, Hash, PartialEq, Eq)]
struct Prod {
    keep_dims: bool,
}

/// The reduction axes, resolved against `rank`, sorted and deduplicated.
fn axes_of(axes: &Tensor, rank: usize) -> TractResult<Vec<usize>> {
    let axes = axes.cast_to::<i64>()?;
    let mut out = axes
        .try_as_plain_ram()?
        .as_slice::<i64>()?
        .iter()
        .map(|&a| {
            let r = if a < 0 { a + rank as i64 } else { a };
            if r < 0 || r >= rank as i64 {
                bail!("Prod axis {a} out of range for rank {rank}");
            }
            Ok(r as usize)
        })
        .collect::<TractResult<Vec<_>>>()?;
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

impl Prod {
    /// The product of a TDim tensor over `axes`, symbolically.
    fn fold(&self, input: &Tensor, axes: &Tensor) -> TractResult<Tensor> {
        let axes = axes_of(axes, input.rank())?;
        let mut array = input.to_plain_array_view::<TDim>()?.to_owned();
        for &axis in axes.iter().rev() {
            array = array.map_axis(Axis(axis), |lane| {
                lane.iter().fold(TDim::from(1), |acc, d| acc * d.clone())
            });
            if self.keep_dims {
                array.insert_axis_inplace(Axis(axis));
            }
        }
        array.mapv_inplace(|d| d.simplify());
        Ok(array.into_tensor())
    }
}

impl Expansion for Prod {
    fn name(&self) -> StaticName {
        "Prod".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 2)?;
        check_output_arity(outputs, 1)?;
        s.equals(&outputs[0].datum_type, &inputs[0].datum_type)?;
        s.given_2(&inputs[0].shape, &inputs[1].value, move |s, shape, axes| {
            let axes = axes_of(&axes, shape.len())?;
            let mut out: TVec<TDim> = tvec!();
            for (d, dim) in shape.iter().enumerate() {
                if !axes.contains(&d) {
                    out.push(dim.clone());
                } else if self.keep_dims {
                    out.push(1.into());
                }
            }
            s.equals(&outputs[0].shape, out)
        })?;
        s.given_2(&inputs[0].value, &inputs[1].value, move |s, input, axes| {
            if input.datum_type() == TDim::datum_type() {
                s.equals(
                    &outputs[0].value,
                    self.fold(&input, &axes)?.into_arc_tensor(),
                )?;
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
        let axes = model
            .outlet_fact(inputs[1])?
            .konst
            .clone()
            .context("Prod axes must be constant")?;
        let input = model.outlet_fact(inputs[0])?.clone();
        if let Some(k) = input
            .konst
            .as_ref()
            .filter(|k| k.datum_type() == TDim::datum_type())
        {
            let folded = self.fold(k, &axes)?;
            return Ok(tvec!(model.add_const(prefix, folded)?));
        }
        let axes: Vec<i64> = axes_of(&axes, input.rank())?
            .into_iter()
            .map(|a| a as i64)
            .collect();
        Reduce::new(Some(axes), self.keep_dims, Reducer::Prod).wire(prefix, model, &inputs[..1])
    }
}
