//! KServe V1 (and TensorFlow Serving's REST predict): `{"instances": [...]}` (rows) or
//! `{"inputs": ...}` (columns) in; `{"predictions": [...]}` or `{"outputs": ...}` out.
//!
//! [`V1`] is the codec the request chain calls. A component gets its `instances` as the text
//! sent; a graph gets tensors ([`rows`]), read in one pass from the body when it has one
//! float input ([`body`], [`scan`]); bare `NaN`/`Infinity` tokens are read as floats
//! ([`nonfinite`]).

mod body;
mod nonfinite;
mod rows;
mod scan;

#[cfg(test)]
pub(super) use body::decode_v1_floats;

use super::{Codec, Encoded};
use crate::request::{Accepts, InferenceError, Output, Payload};
use crate::tensor::json::{NestedData, Rows};
use serde::Deserialize;
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::value::RawValue;

#[derive(Deserialize)]
struct Request {
    #[serde(default)]
    instances: Option<Box<RawValue>>,
    #[serde(default)]
    inputs: Option<Box<RawValue>>,
    /// TensorFlow Serving's signature selector; graphs here have one signature.
    #[serde(default, rename = "signature_name")]
    _signature_name: Option<String>,
}

/// The V1 codec. What it remembers of a request: whether it came columnar (`inputs`), which
/// the answer mirrors (`outputs`).
pub struct V1;

impl Codec for V1 {
    type Meta = bool;

    fn decode(&self, body: &[u8], accepts: Accepts<'_>) -> Result<(Payload, bool), InferenceError> {
        let specs = match accepts {
            Accepts::JsonOrTensors => {
                let (body, columnar) = parse(body)?;
                return Ok((Payload::Json { columnar, body }, columnar));
            }
            Accepts::Tensors(specs) => specs,
        };
        // The rows (or columns) of a graph with one float input are read straight into its
        // tensor in one pass over the body, not kept as text for a second reading.
        if let [input] = specs
            && let Some((tensor, columnar)) =
                body::decode_v1_floats(&input.name, input.datatype, body)
        {
            return Ok((tensors(vec![tensor]), columnar));
        }
        // Bare NaN/Infinity (TF Serving takes them) are read as the floats; a component
        // gets its JSON as sent, so only a graph's body is rewritten.
        let quoted = nonfinite::quote_non_finite(body);
        let (body, columnar) = parse(quoted.as_deref().unwrap_or(body))?;
        let inputs = rows::json_to_tensors(specs, columnar, &body)?;
        Ok((tensors(inputs), columnar))
    }

    fn encode(&self, columnar: bool, output: &Output) -> Result<Encoded, InferenceError> {
        encode(output, columnar).map(Encoded::json)
    }
}

fn tensors(inputs: Vec<crate::tensor::Tensor>) -> Payload {
    Payload::Tensors {
        inputs,
        outputs: None,
    }
}

/// Decodes a `:predict` body as a component takes it (the codec does this; the hostile
/// tests call it alone).
#[cfg(test)]
pub fn decode(body: &[u8]) -> Result<Payload, InferenceError> {
    parse(body).map(|(body, columnar)| Payload::Json { columnar, body })
}

/// The `instances` (or `inputs`) of a `:predict` body, as text, and whether it was `inputs`.
fn parse(body: &[u8]) -> Result<(Box<RawValue>, bool), InferenceError> {
    super::require_object(body)?;
    // `instances` stays raw text for a component: serde's depth limit never sees inside it.
    super::check_depth(body)?;
    let request: Request = serde_json::from_slice(body)
        .map_err(|e| InferenceError::BadRequest(format!("malformed JSON request: {e}")))?;
    match (request.instances, request.inputs) {
        (Some(body), None) => Ok((body, false)),
        (None, Some(body)) => Ok((body, true)),
        (Some(_), Some(_)) => Err(InferenceError::BadRequest(
            "a request holds either \"instances\" or \"inputs\", not both".into(),
        )),
        (None, None) => Err(InferenceError::BadRequest(
            "the request has no \"instances\" (or \"inputs\") field".into(),
        )),
    }
}

/// Encodes the answer to a request decoded as row (`columnar == false`) or columnar format.
fn encode(output: &Output, columnar: bool) -> Result<Vec<u8>, InferenceError> {
    let key = if columnar { "outputs" } else { "predictions" };
    let encoded = match output {
        // KServe's rule for a predictor's result: an object is the response body itself.
        Output::Json(raw) if raw.get().trim_start().starts_with('{') => {
            Ok(raw.get().as_bytes().to_vec())
        }
        Output::Json(raw) => serde_json::to_vec(&Single { key, value: raw }),
        Output::Tensors(tensors) if !columnar => serde_json::to_vec(&Single {
            key,
            value: &Rows(tensors),
        }),
        Output::Tensors(tensors) => serde_json::to_vec(&Single {
            key,
            value: &Columns(tensors),
        }),
    };
    encoded.map_err(|e| InferenceError::BadRequest(format!("cannot encode the answer: {e}")))
}

struct Single<'a, T: Serialize> {
    key: &'a str,
    value: &'a T,
}

impl<T: Serialize> Serialize for Single<'_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(1))?;
        map.serialize_entry(self.key, self.value)?;
        map.end()
    }
}

/// Columnar outputs: the tensor itself when there is one, else an object by name.
struct Columns<'a>(&'a [crate::tensor::Tensor]);

impl Serialize for Columns<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if let [only] = self.0 {
            return NestedData(only).serialize(s);
        }
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for t in self.0 {
            map.serialize_entry(&t.name, &NestedData(t))?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instances_and_inputs_are_exclusive_and_required() {
        assert!(matches!(
            decode(br#"{"instances": [[1]]}"#),
            Ok(Payload::Json {
                columnar: false,
                ..
            })
        ));
        assert!(matches!(
            decode(br#"{"inputs": {"a": [1]}}"#),
            Ok(Payload::Json { columnar: true, .. })
        ));
        for body in [
            &br#"{"instances": [], "inputs": []}"#[..],
            br#"{}"#,
            br#"{"instances": "#,
            b"[1]",
        ] {
            assert!(matches!(decode(body), Err(InferenceError::BadRequest(_))));
        }
    }

    #[test]
    fn component_json_passes_through_untouched() {
        let raw = RawValue::from_string(r#"[{"class": "setosa"}]"#.into()).unwrap();
        let body = encode(&Output::Json(raw), false).unwrap();
        assert_eq!(body, br#"{"predictions":[{"class": "setosa"}]}"#);
    }
}
