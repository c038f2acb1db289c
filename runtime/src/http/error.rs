//! The one error type handlers return: a status, a stable kind and a message, answered as
//! `{"error": "...", "kind": "..."}`. Internal details stay in the logs; messages say what
//! went wrong, kinds let clients branch without reading them.

use crate::error_kind::ErrorKind;
use crate::request::InferenceError;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub kind: ErrorKind,
    pub message: String,
    /// Seconds for a `Retry-After` header (overload answers).
    pub retry_after: Option<u32>,
}

impl ApiError {
    /// An error of the kind its status implies.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            kind: ErrorKind::of_status(status.as_u16()),
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }
}

impl From<InferenceError> for ApiError {
    fn from(e: InferenceError) -> Self {
        let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let retry_after = matches!(e, InferenceError::Overloaded { .. }).then_some(1);
        ApiError {
            retry_after,
            kind: e.kind(),
            ..ApiError::new(status, e.to_string())
        }
    }
}

impl From<axum::extract::rejection::BytesRejection> for ApiError {
    fn from(r: axum::extract::rejection::BytesRejection) -> Self {
        let status = r.status();
        if let Some(timeout) = find_source::<super::connections::BodyReadTimeout>(&r) {
            return ApiError::new(StatusCode::REQUEST_TIMEOUT, timeout.to_string());
        }
        let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "request body too large".to_string()
        } else {
            format!("cannot read the request body: {}", r.body_text())
        };
        ApiError::new(status, message)
    }
}

/// The first error of type `E` in `error`'s chain of sources.
pub fn find_source<'a, E: std::error::Error + 'static>(
    error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a E> {
    let mut next = Some(error);
    while let Some(e) = next {
        if let Some(found) = e.downcast_ref::<E>() {
            return Some(found);
        }
        next = e.source();
    }
    None
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::warn!(status = self.status.as_u16(), "{}", self.message);
        } else {
            tracing::debug!(status = self.status.as_u16(), "{}", self.message);
        }
        let body = crate::views::ErrorBody {
            error: self.message,
            kind: Some(self.kind),
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        response
    }
}
