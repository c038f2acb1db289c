//! The wire formats: KServe V1 ([`v1`]) and the Open Inference Protocol ([`v2`]). Each
//! decodes a body into an [`crate::inference::Payload`] and encodes an
//! [`crate::inference::Output`], and nothing else: routing and errors live in `http`.

pub mod v1;
pub mod v2;

/// Refuses a body that is not a JSON object before decoding (serde would otherwise accept
/// an array as a struct's fields in order).
pub(crate) fn require_object(body: &[u8]) -> Result<(), crate::inference::InferenceError> {
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => Ok(()),
        _ => Err(crate::inference::InferenceError::BadRequest(
            "malformed JSON request: the body must be a JSON object".into(),
        )),
    }
}
