//! TF's Einsum (Keras MultiHeadAttention and EinsumDense use it), on tract-core's EinSum.
//! Equations with an ellipsis are refused at load.

use tract_tensorflow::model::TfOpRegister;
use tract_tensorflow::tract_hir::internal::*;
use tract_tensorflow::tract_hir::tract_core::ops::einsum::EinSum as CoreEinSum;

pub fn register(reg: &mut TfOpRegister) {
    reg.insert("Einsum", |_, node| {
        let equation = node.get_attr_str("equation")?;
        if equation.contains("...") {
            bail!(
                "Einsum {}: equations with an ellipsis ({equation}) are not supported",
                node.name
            );
        }
        let expr: AxesMapping = equation
            .parse()
            .with_context(|| format!("Einsum {}: cannot parse equation {equation:?}", node.name))?;
        Ok(expand(Einsum { expr }))
    });
}

#[derive(Debug, Clone, Hash, PartialEq, Eq)]
struct Einsum {
    expr: AxesMapping,
}

impl Expansion for Einsum {
    fn name(&self) -> StaticName {
        "Einsum".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, self.expr.input_count())?;
        check_output_arity(outputs, 1)?;
        for (ix, input) in inputs.iter().enumerate() {
            s.equals(&input.datum_type, &outputs[0].datum_type)?;
            s.equals(self.expr.rank(InOut::In(ix)) as i64, &input.rank)?;
        }
        s.equals(&outputs[0].rank, self.expr.rank(InOut::Out(0)) as i64)?;
        for axis in self.expr.iter_all_axes() {
            let mut dims = vec![];
            if let Some(result) = axis.outputs[0].first() {
                dims.push(outputs[0].shape[*result].bex());
            }
            for (input, positions) in axis.inputs.iter().enumerate() {
                for position in positions {
                    dims.push(inputs[input].shape[*position].bex());
                }
            }
            if dims.len() > 1 {
                s.equals_all(dims)?;
            }
        }
        Ok(())
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        let operating_dt = model.outlet_fact(inputs[0])?.datum_type;
        model.wire_node(
            prefix,
            CoreEinSum {
                axes: self.expr.clone(),
                operating_dt,
                q_params: None,
            },
            inputs,
        )
    }
}
