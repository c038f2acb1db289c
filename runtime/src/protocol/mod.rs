//! The wire formats: KServe V1 ([`v1`]) and the Open Inference Protocol ([`v2`]). Each is a
//! [`Codec`]: it decodes a body into a [`Payload`] shaped for what the predictor accepts, and
//! encodes its [`Output`], owning every conversion between its JSON and tensors; nothing
//! else. The request chain (the `inference` module) calls them; routing and HTTP errors live in
//! `http`. A new protocol is a new codec.

#[cfg(test)]
mod hostile;
pub mod v1;
pub mod v2;

use crate::request::{Accepts, InferenceError, Output, Payload};

/// A protocol's request and response bodies.
pub trait Codec {
    /// What the codec keeps of a request for its answer (V1: columnar or not; V2: the id and
    /// the outputs wanted as binary).
    type Meta;

    /// Called when the deployment has a transformer, which reads and writes JSON: a codec
    /// with binary forms refuses them here, or answers in JSON.
    fn json_only(&mut self, _deployment: &str) -> Result<(), InferenceError> {
        Ok(())
    }

    /// The request body as the predictor takes it.
    fn decode(
        &self,
        body: &[u8],
        accepts: Accepts<'_>,
    ) -> Result<(Payload, Self::Meta), InferenceError>;

    /// The predictor's answer as a response body.
    fn encode(&self, meta: Self::Meta, output: &Output) -> Result<Encoded, InferenceError>;
}

/// An encoded answer: the body, and the JSON part's length when binary tensors follow it
/// (V2's binary extension, sent as the `Inference-Header-Content-Length` header).
pub struct Encoded {
    pub body: Vec<u8>,
    pub binary_json_length: Option<usize>,
}

impl Encoded {
    /// A body that is all JSON.
    pub fn json(body: Vec<u8>) -> Encoded {
        Encoded {
            body,
            binary_json_length: None,
        }
    }
}

/// Refuses a body that is not a JSON object before decoding (serde would otherwise accept
/// an array as a struct's fields in order).
pub(crate) fn require_object(body: &[u8]) -> Result<(), InferenceError> {
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => Ok(()),
        _ => Err(InferenceError::BadRequest(
            "malformed JSON request: the body must be a JSON object".into(),
        )),
    }
}

/// Refuses a body nested too deeply to hand on (see [`crate::tensor::nesting`]).
pub(crate) fn check_depth(body: &[u8]) -> Result<(), InferenceError> {
    crate::tensor::nesting::check_depth(body).map_err(|e| InferenceError::BadRequest(e.0))
}
