//! KServe V1 (and TensorFlow Serving's REST predict): `{"instances": [...]}` (rows) or
//! `{"inputs": ...}` (columns) in; `{"predictions": [...]}` or `{"outputs": ...}` out.
//!
//! [`V1`] is the codec the request chain calls. A component gets its `instances` as the text
//! sent; a graph gets tensors ([`rows`]), read in one pass from the body when it has one
//! float input ([`body`], [`scan`]); bare `NaN`/`Infinity` tokens are read as floats
//! ([`nonfinite`]). A `signature_name` picks a SavedModel signature, as in TF Serving: the
//! request is decoded into that signature's inputs and runs its graph; an unknown name is
//! refused in TF Serving's words, one that cannot be served with the reason. [`Examples`]
//! is TF Serving's `:classify` and `:regress`.

mod body;
mod examples;
pub mod metadata;
mod method;
mod nonfinite;
mod results;
mod rows;
mod scan;

pub use method::Method;

#[cfg(test)]
pub(super) use body::decode_v1_floats;

use super::{Codec, Encoded};
use crate::request::{Accepts, InferenceError, Output, Payload};
use crate::tensor::TensorSpec;
use crate::tensor::json::{NestedData, Rows};
use crate::tensor::signature::{DEFAULT_SIGNATURE, Signatures, check_requested};
use serde::Deserialize;
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::value::RawValue;
use std::sync::Arc;

#[derive(Deserialize)]
struct Request {
    #[serde(default)]
    instances: Option<Box<RawValue>>,
    #[serde(default)]
    inputs: Option<Box<RawValue>>,
    /// TensorFlow Serving's signature selector.
    #[serde(default)]
    signature_name: Option<String>,
}

/// The V1 codec. What it remembers of a request: whether it came columnar (`inputs`), which
/// the answer mirrors (`outputs`). It knows the deployment's signatures, to decode a request
/// into the inputs of the one it names; without them only `serving_default` is served.
#[derive(Default)]
pub struct V1 {
    signatures: Option<Arc<Signatures>>,
}

impl V1 {
    /// The codec of a deployment serving `signatures`.
    pub fn serving(signatures: Arc<Signatures>) -> V1 {
        V1 {
            signatures: Some(signatures),
        }
    }

    /// The signature a request names: `None` for the served one, else its name and
    /// inputs; refused in TF Serving's words when unknown, with the reason when it cannot be
    /// served.
    fn resolve(
        &self,
        requested: Option<&str>,
    ) -> Result<Option<(&str, &[TensorSpec])>, InferenceError> {
        match &self.signatures {
            Some(s) => s.resolve(requested),
            None => check_requested(DEFAULT_SIGNATURE, false, requested).map(|()| None),
        }
        .map_err(InferenceError::BadRequest)
    }

    /// The `instances` (or `inputs`) of a `:predict` body, as text, and whether it was
    /// `inputs`, for the served signature (a component's one).
    fn parse(&self, body: &[u8]) -> Result<(Box<RawValue>, bool), InferenceError> {
        let (request, columnar) = parse(body)?;
        if self.resolve(request.signature_name.as_deref())?.is_some() {
            return Err(InferenceError::BadRequest(
                "this predictor serves one signature; signature_name names another".into(),
            ));
        }
        Ok((request.body, columnar))
    }
}

impl Codec for V1 {
    type Meta = bool;

    fn decode(&self, body: &[u8], accepts: Accepts<'_>) -> Result<(Payload, bool), InferenceError> {
        let specs = match accepts {
            Accepts::JsonOrTensors => {
                let (body, columnar) = self.parse(body)?;
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
            return Ok((tensors(vec![tensor], None), columnar));
        }
        // Bare NaN/Infinity (TF Serving takes them) are read as the floats; a component
        // gets its JSON as sent, so only a graph's body is rewritten.
        let quoted = nonfinite::quote_non_finite(body);
        let (request, columnar) = parse(quoted.as_deref().unwrap_or(body))?;
        let (signature, specs) = match self.resolve(request.signature_name.as_deref())? {
            Some((name, specs)) => (Some(name.to_string()), specs),
            None => (None, specs),
        };
        let inputs = rows::json_to_tensors(specs, columnar, &request.body)?;
        Ok((tensors(inputs, signature), columnar))
    }

    fn encode(&self, columnar: bool, output: &Output) -> Result<Encoded, InferenceError> {
        encode(output, columnar).map(Encoded::json)
    }
}

/// TensorFlow Serving's `:classify` and `:regress`: examples in ([`examples`]), results
/// out ([`results`]), on the signature the request names (the served one by default). What
/// it remembers of a request:
/// its number of examples and the outputs its answer is made of.
pub struct Examples {
    method: Method,
    signatures: Arc<Signatures>,
}

impl Examples {
    pub fn new(method: Method, signatures: Arc<Signatures>) -> Examples {
        Examples { method, signatures }
    }
}

impl Codec for Examples {
    type Meta = (usize, method::Plan);

    fn json_only(&mut self, deployment: &str) -> Result<(), InferenceError> {
        Err(InferenceError::Unimplemented(format!(
            "deployment {deployment:?} has a transformer, which takes :predict bodies; :{} is not served through it",
            self.method.verb()
        )))
    }

    fn decode(
        &self,
        body: &[u8],
        accepts: Accepts<'_>,
    ) -> Result<(Payload, Self::Meta), InferenceError> {
        let request = examples::ExamplesRequest::parse(body, self.method.verb())?;
        let requested = request.signature_name.as_deref();
        let resolved = self
            .signatures
            .resolve(requested)
            .map_err(InferenceError::BadRequest)?;
        // A twin of the served signature runs the served graph but answers by its own def.
        let plan = method::Plan::of_signature(self.method, &self.signatures, requested)
            .map_err(InferenceError::BadRequest)?;
        let Accepts::Tensors(specs) = accepts else {
            return Err(InferenceError::Unimplemented(format!(
                ":{} is answered by model graphs; this deployment's predictor is a component, which takes :predict bodies",
                self.method.verb()
            )));
        };
        let (signature, specs) = match resolved {
            Some((name, specs)) => (Some(name.to_string()), specs),
            None => (None, specs),
        };
        let inputs = request.tensors(specs)?;
        Ok((tensors(inputs, signature), (request.len(), plan)))
    }

    fn encode(&self, (rows, plan): Self::Meta, output: &Output) -> Result<Encoded, InferenceError> {
        match output {
            Output::Tensors(outputs) => plan.answer(outputs, rows).map(Encoded::json),
            Output::Json(_) => Err(InferenceError::BadRequest(
                "the predictor answered JSON, not tensors".into(),
            )),
        }
    }
}

fn tensors(inputs: Vec<crate::tensor::Tensor>, signature: Option<String>) -> Payload {
    Payload::Tensors {
        inputs,
        outputs: None,
        signature,
        version: None,
    }
}

/// Decodes a `:predict` body as a component takes it (the codec does this; the hostile
/// tests call it alone).
#[cfg(test)]
pub fn decode(body: &[u8]) -> Result<Payload, InferenceError> {
    V1::default()
        .parse(body)
        .map(|(body, columnar)| Payload::Json { columnar, body })
}

/// A parsed `:predict` body: its `instances` or `inputs` as text, and its signature name.
struct Parsed {
    body: Box<RawValue>,
    signature_name: Option<String>,
}

/// The `instances` (or `inputs`) of a `:predict` body, as text, and whether it was `inputs`.
fn parse(body: &[u8]) -> Result<(Parsed, bool), InferenceError> {
    super::require_object(body)?;
    // `instances` stays raw text for a component: serde's depth limit never sees inside it.
    super::check_depth(body)?;
    let request: Request = serde_json::from_slice(body)
        .map_err(|e| InferenceError::BadRequest(format!("malformed JSON request: {e}")))?;
    let parsed = |body| Parsed {
        body,
        signature_name: request.signature_name.clone(),
    };
    match (request.instances, request.inputs) {
        (Some(body), None) => Ok((parsed(body), false)),
        (None, Some(body)) => Ok((parsed(body), true)),
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
