//! The Open Inference Protocol (KServe V2, Triton, MLServer) over JSON: inference requests
//! and responses, and model metadata.

use super::{Codec, Encoded};
use crate::request::{Accepts, InferenceError, Output, Payload};
use crate::tensor::json::{FlatData, decode as decode_tensor};
use crate::tensor::{Datatype, Tensor, TensorSpec, check_request_shape};
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
    /// Absent when the tensor travels in the binary section.
    #[serde(default)]
    data: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestedOutput {
    name: String,
    #[serde(default)]
    parameters: Option<Map<String, Value>>,
}

/// The HTTP header that marks a body as JSON followed by binary tensors (Triton's binary
/// tensor extension), giving the JSON part's length.
pub const BINARY_HEADER: &str = "inference-header-content-length";

/// Which outputs the client wants as raw bytes rather than JSON `data`.
#[derive(Debug, Default)]
pub struct BinaryOutputs {
    /// `parameters.binary_data_output` of the request: every output, unless it says otherwise.
    all: bool,
    /// `parameters.binary_data` of each requested output.
    by_name: Vec<(String, bool)>,
}

impl BinaryOutputs {
    fn wants(&self, name: &str) -> bool {
        self.by_name
            .iter()
            .find(|(n, _)| n == name)
            .map_or(self.all, |(_, b)| *b)
    }
}

/// A decoded `/infer` request: the payload plus what the response echoes.
pub struct Decoded {
    pub payload: Payload,
    /// The request's `id`, echoed in the response.
    pub id: Option<String>,
    /// How the response lays out its outputs.
    pub binary_outputs: BinaryOutputs,
}

/// The V2 codec of one `/infer` request on one model.
pub struct V2<'a> {
    /// The model's name and version, echoed in the answer.
    pub model_name: &'a str,
    pub model_version: u64,
    /// The binary extension's header: the JSON part's length, when the client sent it.
    pub json_length: Option<usize>,
    /// Whether the answer must be all JSON (a transformer reads it).
    json_only: bool,
}

impl<'a> V2<'a> {
    pub fn new(model_name: &'a str, model_version: u64, json_length: Option<usize>) -> Self {
        V2 {
            model_name,
            model_version,
            json_length,
            json_only: false,
        }
    }
}

impl Codec for V2<'_> {
    /// The request's `id` and the outputs it wants as binary.
    type Meta = (Option<String>, BinaryOutputs);

    fn json_only(&mut self, deployment: &str) -> Result<(), InferenceError> {
        if self.json_length.is_some() {
            return Err(InferenceError::BadRequest(format!(
                "deployment {deployment:?} has a transformer, which takes and gives JSON: send the request without the binary tensor extension ({BINARY_HEADER})"
            )));
        }
        self.json_only = true;
        Ok(())
    }

    /// V2 inputs are tensors whatever the predictor: a component takes them as they are.
    fn decode(&self, body: &[u8], _: Accepts<'_>) -> Result<(Payload, Self::Meta), InferenceError> {
        let decoded = decode(body, self.json_length)?;
        Ok((decoded.payload, (decoded.id, decoded.binary_outputs)))
    }

    fn encode(&self, (id, binary): Self::Meta, output: &Output) -> Result<Encoded, InferenceError> {
        let binary = if self.json_only {
            BinaryOutputs::default()
        } else {
            binary
        };
        encode(
            self.model_name,
            self.model_version,
            id.as_deref(),
            &binary,
            output,
        )
    }
}

/// Decodes an `/infer` body. `json_length` is the binary extension's header: the body is
/// then that many bytes of JSON followed by the inputs that declare `binary_data_size`,
/// in order.
pub fn decode(body: &[u8], json_length: Option<usize>) -> Result<Decoded, InferenceError> {
    let bad = InferenceError::BadRequest;
    let (json, mut binary) = match json_length {
        Some(n) if n <= body.len() => body.split_at(n),
        Some(n) => {
            return Err(bad(format!(
                "{BINARY_HEADER} is {n} but the body holds {} bytes",
                body.len()
            )));
        }
        None => (body, &[][..]),
    };
    super::require_object(json)?;
    super::check_depth(json)?;
    let request: InferRequest = serde_json::from_slice(json)
        .map_err(|e| bad(format!("malformed inference request: {e}")))?;
    let mut inputs = Vec::with_capacity(request.inputs.len());
    // A set, not a scan of `inputs`: a body may hold a million inputs.
    let mut names = std::collections::HashSet::with_capacity(request.inputs.len());
    for input in request.inputs {
        if !names.insert(input.name.clone()) {
            return Err(bad(format!("input {:?} is given twice", input.name)));
        }
        let datatype = Datatype::parse(&input.datatype).ok_or_else(|| {
            bad(format!(
                "input {:?}: unknown datatype {:?}",
                input.name, input.datatype
            ))
        })?;
        let binary_size = parameter(&input.parameters, "binary_data_size")
            .map(|v| {
                v.as_u64()
                    .and_then(|n| usize::try_from(n).ok())
                    .ok_or_else(|| {
                        bad(format!(
                            "input {:?}: binary_data_size must be a byte count",
                            input.name
                        ))
                    })
            })
            .transpose()?;
        let tensor = match (binary_size, &input.data) {
            (Some(size), None) => {
                if size > binary.len() {
                    return Err(bad(format!(
                        "input {:?}: binary_data_size {size} runs past the end of the body",
                        input.name
                    )));
                }
                check_request_shape(&input.name, &input.shape).map_err(|e| bad(e.0))?;
                let (bytes, rest) = binary.split_at(size);
                binary = rest;
                Tensor::new(&input.name, datatype, input.shape, bytes.to_vec())
                    .map_err(|e| bad(e.0))?
            }
            (None, Some(data)) => {
                decode_tensor(&input.name, datatype, input.shape, data).map_err(|e| bad(e.0))?
            }
            (Some(_), Some(_)) => {
                return Err(bad(format!(
                    "input {:?} has both data and binary_data_size",
                    input.name
                )));
            }
            (None, None) => return Err(bad(format!("input {:?} has no data", input.name))),
        };
        inputs.push(tensor);
    }
    if !binary.is_empty() {
        return Err(bad(format!(
            "{} bytes of binary data are not claimed by any input's binary_data_size",
            binary.len()
        )));
    }
    let mut binary_outputs = BinaryOutputs {
        all: parameter(&request.parameters, "binary_data_output").and_then(Value::as_bool)
            == Some(true),
        by_name: Vec::new(),
    };
    let outputs = request.outputs.map(|o| {
        o.into_iter()
            .map(|r| {
                if let Some(b) = parameter(&r.parameters, "binary_data").and_then(Value::as_bool) {
                    binary_outputs.by_name.push((r.name.clone(), b));
                }
                r.name
            })
            .collect()
    });
    Ok(Decoded {
        payload: Payload::Tensors {
            inputs,
            outputs,
            signature: None,
            version: None,
        },
        id: request.id,
        binary_outputs,
    })
}

fn parameter<'a>(parameters: &'a Option<Map<String, Value>>, key: &str) -> Option<&'a Value> {
    parameters.as_ref().and_then(|p| p.get(key))
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
    #[serde(skip_serializing_if = "Option::is_none")]
    parameters: Option<BinarySize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<FlatData<'a>>,
}

#[derive(Serialize)]
struct BinarySize {
    binary_data_size: usize,
}

/// Encodes the answer to an `/infer` request.
pub fn encode(
    model_name: &str,
    version: u64,
    id: Option<&str>,
    binary: &BinaryOutputs,
    output: &Output,
) -> Result<Encoded, InferenceError> {
    let Output::Tensors(tensors) = output else {
        return Err(InferenceError::BadRequest(
            "this predictor answered JSON; use the V1 :predict endpoint".into(),
        ));
    };
    let as_binary: Vec<bool> = tensors.iter().map(|t| binary.wants(&t.name)).collect();
    let response = InferResponse {
        model_name,
        model_version: version.to_string(),
        id,
        outputs: tensors
            .iter()
            .zip(&as_binary)
            .map(|(t, &b)| OutputTensor {
                name: &t.name,
                datatype: t.datatype,
                shape: &t.shape,
                parameters: b.then_some(BinarySize {
                    binary_data_size: t.data.len(),
                }),
                data: (!b).then_some(FlatData(t)),
            })
            .collect(),
    };
    let mut body = serde_json::to_vec(&response)
        .map_err(|e| InferenceError::BadRequest(format!("cannot encode the answer: {e}")))?;
    if !as_binary.contains(&true) {
        return Ok(Encoded::json(body));
    }
    let json_length = body.len();
    for (t, _) in tensors.iter().zip(&as_binary).filter(|(_, b)| **b) {
        body.extend_from_slice(&t.data);
    }
    Ok(Encoded {
        body,
        binary_json_length: Some(json_length),
    })
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
        let d = decode(body.to_string().as_bytes(), None).unwrap();
        assert_eq!(d.id.as_deref(), Some("42"));
        let Payload::Tensors {
            inputs, outputs, ..
        } = d.payload
        else {
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
                "has no data",
            ),
            (json!({"input": []}), "unknown field `input`"),
        ] {
            let Err(InferenceError::BadRequest(m)) = decode(body.to_string().as_bytes(), None)
            else {
                panic!("{body}")
            };
            assert!(m.contains(says), "{m}");
        }
    }

    #[test]
    fn encodes_outputs_flat() {
        let t = decode_tensor("y", Datatype::Fp32, vec![1, 2], &json!([[0.5, 0.25]])).unwrap();
        let encoded = encode(
            "m",
            1,
            Some("7"),
            &BinaryOutputs::default(),
            &Output::Tensors(vec![t]),
        )
        .unwrap();
        assert_eq!(encoded.binary_json_length, None);
        let v: Value = serde_json::from_slice(&encoded.body).unwrap();
        assert_eq!(
            v,
            json!({"model_name": "m", "model_version": "1", "id": "7",
                   "outputs": [{"name": "y", "datatype": "FP32", "shape": [1, 2], "data": [0.5, 0.25]}]})
        );
    }

    #[test]
    fn binary_tensors_in_and_out() {
        let header = json!({"inputs": [
            {"name": "a", "shape": [2], "datatype": "INT32", "parameters": {"binary_data_size": 8}},
            {"name": "b", "shape": [1], "datatype": "FP32", "data": [1.5]},
            {"name": "s", "shape": [1], "datatype": "BYTES", "parameters": {"binary_data_size": 7}}],
            "outputs": [{"name": "a", "parameters": {"binary_data": true}}, {"name": "b"}]})
        .to_string();
        let mut body = header.clone().into_bytes();
        body.extend_from_slice(&7i32.to_le_bytes());
        body.extend_from_slice(&(-1i32).to_le_bytes());
        body.extend_from_slice(&[3, 0, 0, 0, b'a', b'b', b'c']);
        let d = decode(&body, Some(header.len())).unwrap();
        let Payload::Tensors { inputs, .. } = d.payload else {
            panic!()
        };
        assert_eq!(inputs[0].data, [7, 0, 0, 0, 255, 255, 255, 255]);
        assert_eq!(inputs[2].byte_elements().unwrap(), vec![b"abc".as_slice()]);

        let encoded = encode(
            "m",
            1,
            None,
            &d.binary_outputs,
            &Output::Tensors(inputs[..2].to_vec()),
        )
        .unwrap();
        let n = encoded.binary_json_length.expect("binary output");
        let v: Value = serde_json::from_slice(&encoded.body[..n]).unwrap();
        assert_eq!(
            v["outputs"][0]["parameters"],
            json!({"binary_data_size": 8})
        );
        assert!(v["outputs"][0].get("data").is_none());
        assert_eq!(v["outputs"][1]["data"], json!([1.5]));
        assert_eq!(&encoded.body[n..], &[7, 0, 0, 0, 255, 255, 255, 255]);

        for (len, says) in [
            (header.len() + 100, "body holds"),
            (header.len() - 1, "malformed"),
        ] {
            let Err(InferenceError::BadRequest(m)) = decode(&body, Some(len)) else {
                panic!()
            };
            assert!(m.contains(says), "{m}");
        }
        let mut extra = body.clone();
        extra.push(0);
        let Err(InferenceError::BadRequest(m)) = decode(&extra, Some(header.len())) else {
            panic!()
        };
        assert!(m.contains("not claimed"), "{m}");
    }
}
