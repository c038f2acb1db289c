//! TF Serving's `GET /v1/models/NAME[/versions/N]/metadata` answer: the model spec and its
//! signature map as `GetModelMetadataResponse` prints in JSON (proto field names, every
//! field printed, `int64` sizes as strings, `-1` for an unknown size).

use crate::tensor::signature::{SignatureTensor, Signatures};
use serde_json::{Map, Value, json};

/// The metadata of model `name` at `version` serving `signatures`.
pub fn model_metadata(name: &str, version: &str, signatures: &Signatures) -> Value {
    let defs: Map<String, Value> = signatures
        .defs()
        .iter()
        .map(|(key, def)| {
            let def = json!({
                "inputs": tensor_infos(&def.inputs),
                "outputs": tensor_infos(&def.outputs),
                "method_name": def.method_name,
                "defaults": {},
            });
            (key.clone(), def)
        })
        .collect();
    json!({
        "model_spec": {"name": name, "signature_name": "", "version": version},
        "metadata": {"signature_def": {"signature_def": defs}},
    })
}

fn tensor_infos(tensors: &[SignatureTensor]) -> Value {
    let infos: Map<String, Value> = tensors
        .iter()
        .map(|t| {
            let shape = match &t.shape {
                Some(dims) => json!({
                    "dim": dims
                        .iter()
                        .map(|d| json!({"size": d.max(&-1).to_string(), "name": ""}))
                        .collect::<Vec<_>>(),
                    "unknown_rank": false,
                }),
                None => json!({"dim": [], "unknown_rank": true}),
            };
            let info = json!({"dtype": t.dtype, "tensor_shape": shape, "name": t.tensor});
            (t.key.clone(), info)
        })
        .collect();
    Value::Object(infos)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::{Datatype, TensorSpec};

    #[test]
    fn prints_the_signature_map_as_tf_serving() {
        let x = TensorSpec {
            name: "x".into(),
            datatype: Datatype::Fp32,
            shape: vec![-1, 4],
        };
        let m = model_metadata(
            "iris",
            "3",
            &Signatures::from_specs(std::slice::from_ref(&x), std::slice::from_ref(&x)),
        );
        assert_eq!(
            m["model_spec"],
            json!({"name": "iris", "signature_name": "", "version": "3"})
        );
        let def = &m["metadata"]["signature_def"]["signature_def"]["serving_default"];
        assert_eq!(def["method_name"], "tensorflow/serving/predict");
        assert_eq!(
            def["inputs"]["x"],
            json!({"dtype": "DT_FLOAT", "name": "x", "tensor_shape": {
                "dim": [{"size": "-1", "name": ""}, {"size": "4", "name": ""}],
                "unknown_rank": false}})
        );
    }
}
