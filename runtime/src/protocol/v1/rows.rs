//! V1 JSON for a graph: rows (`instances`) or columns (`inputs`) turned into one tensor per
//! graph input. With one input, an instance is that input's row; with several, an object
//! keyed by input name (TensorFlow Serving's formats).

use crate::request::InferenceError;
use crate::tensor::{Tensor, TensorSpec, json as tensor_json, stream};
use serde_json::Value;
use serde_json::value::RawValue;

/// V1 JSON for a graph: rows (`instances`) or columns (`inputs`), one tensor per graph input.
/// With one input, an instance is that input's row; with several, an object keyed by input
/// name (TensorFlow Serving's formats).
pub(super) fn json_to_tensors(
    inputs: &[TensorSpec],
    columnar: bool,
    body: &RawValue,
) -> Result<Vec<Tensor>, InferenceError> {
    let bad = |m: String| InferenceError::BadRequest(m);
    let specs: Vec<&TensorSpec> = inputs.iter().collect();
    if let [only] = specs.as_slice()
        && let Some(t) = stream::decode_nested_floats(&only.name, only.datatype, body.get())
    {
        return Ok(vec![t]);
    }
    let value: Value = serde_json::from_str(body.get()).map_err(|e| bad(e.to_string()))?;
    let by_name = |lookup: &dyn Fn(&str) -> Option<Value>| -> Result<Vec<Tensor>, InferenceError> {
        specs
            .iter()
            .map(|spec| {
                let v = lookup(&spec.name)
                    .ok_or_else(|| bad(format!("missing input {:?}", spec.name)))?;
                tensor_json::decode_nested(&spec.name, spec.datatype, &v).map_err(|e| bad(e.0))
            })
            .collect()
    };
    match (&value, specs.as_slice()) {
        (Value::Object(map), _) if columnar => by_name(&|n| map.get(n).cloned()),
        (_, [only]) if columnar || value.is_array() => {
            tensor_json::decode_nested(&only.name, only.datatype, &value)
                .map(|t| vec![t])
                .map_err(|e| bad(e.0))
        }
        (Value::Array(rows), _) => by_name(&|n| {
            rows.iter()
                .map(|row| row.as_object().and_then(|o| o.get(n)).cloned())
                .collect::<Option<Vec<Value>>>()
                .map(Value::Array)
        }),
        _ if columnar => Err(bad(
            "inputs must be an array or an object keyed by input name".into(),
        )),
        _ => Err(bad("instances must be an array".into())),
    }
}
