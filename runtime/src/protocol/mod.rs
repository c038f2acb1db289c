//! The wire formats: KServe V1 ([`v1`]) and the Open Inference Protocol ([`v2`]). Each
//! decodes a body into an [`crate::inference::Payload`] and encodes an
//! [`crate::inference::Output`], and nothing else: routing and errors live in `http`.

pub mod v1;
pub mod v2;
