//! The Open Inference Protocol (KServe V2, Triton, MLServer) over JSON: inference requests
//! and responses, and model metadata.

use crate::inference::{InferenceError, Output, Payload};
use crate::tensor::json::{FlatData, decode as decode_tensor};
use crate::tensor::{Datatype, Tensor, TensorSpec};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InferRequest {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    parameters: Option<Map<String, Value>>,
    inputs: Vec<InferInput>,
    #[serde(default)]
    outputs: Option<Vec<RequestedOutput>>,
    /// KServe's Python client repeats the path's model name and version in the body.
    #[serde(default, rename = "model_name")]
    _model_name: Option<String>,
    #[serde(default, rename = "model_version")]
    _model_version: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InferInput {
    name: String,
    shape: Vec<usize>,
    datatype: String,
    #[serde(default)]
    parameters: Option<Map<String, Value>>,
    data: Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestedOutput {
    name: String,
    #[serde(default)]
    parameters: Option<Map<String, Value>>,
}

/// A decoded `/infer` request: the payload plus what the response echoes.
pub struct Decoded {
    pub payload: Payload,
    /// The request's `id`, echoed in the response.
    pub id: Option<String>,
}

/// Decodes an `/infer` body.
pub fn decode(body: &[u8]) -> Result<Decoded, InferenceError> {
    super::require_object(body)?;
    let bad = InferenceError::BadRequest;
    let request: InferRequest = serde_json::from_slice(body)
        .map_err(|e| bad(format!("malformed inference request: {e}")))?;
    if request
        .parameters
        .as_ref()
        .is_some_and(|p| p.contains_key("binary_data_output"))
    {
        return Err(bad(
            "the binary tensor extension is not supported: send JSON data".into(),
        ));
    }
    let mut inputs = Vec::with_capacity(request.inputs.len());
    for input in request.inputs {
        if input
            .parameters
            .as_ref()
            .is_some_and(|p| p.contains_key("binary_data_size"))
        {
            return Err(bad(
                "the binary tensor extension is not supported: send JSON data".into(),
            ));
        }
        if inputs.iter().any(|t: &Tensor| t.name == input.name) {
            return Err(bad(format!("input {:?} is given twice", input.name)));
        }
        let datatype = Datatype::parse(&input.datatype).ok_or_else(|| {
            bad(format!(
                "input {:?}: unknown datatype {:?}",
                input.name, input.datatype
            ))
        })?;
        inputs.push(
            decode_tensor(&input.name, datatype, input.shape, &input.data).map_err(|e| bad(e.0))?,
        );
    }
    let outputs = request.outputs.map(|o| {
        o.into_iter()
            .map(|r| {
                let _ = r.parameters;
                r.name
            })
            .collect()
    });
    Ok(Decoded {
        payload: Payload::Tensors { inputs, outputs },
        id: request.id,
    })
}

#[derive(Serialize)]
struct InferResponse<'a> {
    model_name: &'a str,
    model_version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    outputs: Vec<OutputTensor<'a>>,
}

#[derive(Serialize)]
struct OutputTensor<'a> {
    name: &'a str,
    datatype: Datatype,
    shape: &'a [usize],
    data: FlatData<'a>,
}

/// Encodes the answer to an `/infer` request.
pub fn encode(
    model_name: &str,
    version: u32,
    id: Option<&str>,
    output: &Output,
) -> Result<Vec<u8>, InferenceError> {
    let Output::Tensors(tensors) = output else {
        return Err(InferenceError::BadRequest(
            "this predictor answered JSON; use the V1 :predict endpoint".into(),
        ));
    };
    let response = InferResponse {
        model_name,
        model_version: version.to_string(),
        id,
        outputs: tensors
            .iter()
            .map(|t| OutputTensor {
                name: &t.name,
                datatype: t.datatype,
                shape: &t.shape,
                data: FlatData(t),
            })
            .collect(),
    };
    serde_json::to_vec(&response)
        .map_err(|e| InferenceError::BadRequest(format!("cannot encode the answer: {e}")))
}

/// `GET /v2/models/{m}`.
#[derive(Serialize)]
pub struct ModelMetadata<'a> {
    pub name: &'a str,
    pub versions: Vec<String>,
    pub platform: &'a str,
    pub inputs: Vec<TensorSpec>,
    pub outputs: Vec<TensorSpec>,
}

/// `GET /v2`.
#[derive(Serialize)]
pub struct ServerMetadata {
    pub name: &'static str,
    pub version: &'static str,
    pub extensions: Vec<&'static str>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decodes_the_protocol_example() {
        let body = json!({"id": "42", "parameters": {"k": "v"},
            "inputs": [{"name": "input0", "shape": [2, 2], "datatype": "FP32", "data": [1, 2, 3, 4]}],
            "outputs": [{"name": "output0"}]});
        let d = decode(body.to_string().as_bytes()).unwrap();
        assert_eq!(d.id.as_deref(), Some("42"));
        let Payload::Tensors { inputs, outputs } = d.payload else {
            panic!()
        };
        assert_eq!(inputs[0].shape, vec![2, 2]);
        assert_eq!(outputs, Some(vec!["output0".to_string()]));
    }

    #[test]
    fn bad_requests_say_what_is_wrong() {
        for (body, says) in [
            (
                json!({"inputs": [{"name": "x", "shape": [1], "datatype": "FP33", "data": [1]}]}),
                "unknown datatype",
            ),
            (
                json!({"inputs": [{"name": "x", "shape": [3], "datatype": "FP32", "data": [1]}]}),
                "do not fill shape",
            ),
            (
                json!({"inputs": [{"name": "x", "shape": [1], "datatype": "FP32"}]}),
                "missing field `data`",
            ),
            (json!({"input": []}), "unknown field `input`"),
        ] {
            let Err(InferenceError::BadRequest(m)) = decode(body.to_string().as_bytes()) else {
                panic!("{body}")
            };
            assert!(m.contains(says), "{m}");
        }
    }

    #[test]
    fn encodes_outputs_flat() {
        let t = decode_tensor("y", Datatype::Fp32, vec![1, 2], &json!([[0.5, 0.25]])).unwrap();
        let body = encode("m", 1, Some("7"), &Output::Tensors(vec![t])).unwrap();
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            v,
            json!({"model_name": "m", "model_version": "1", "id": "7",
                   "outputs": [{"name": "y", "datatype": "FP32", "shape": [1, 2], "data": [0.5, 0.25]}]})
        );
    }
}
