//! The wire formats: KServe V1 ([`v1`]) and the Open Inference Protocol ([`v2`]). Each
//! decodes a body into an [`crate::inference::Payload`] and encodes an
//! [`crate::inference::Output`], and nothing else: routing and errors live in `http`.

#[cfg(test)]
mod hostile;
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

/// Refuses a body nested too deeply to hand on (see [`crate::tensor::nesting`]).
pub(crate) fn check_depth(body: &[u8]) -> Result<(), crate::inference::InferenceError> {
    crate::tensor::nesting::check_depth(body)
        .map_err(|e| crate::inference::InferenceError::BadRequest(e.0))
}
