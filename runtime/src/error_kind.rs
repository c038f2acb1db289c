//! The stable, machine-readable kind every error body carries beside its message
//! (`{"error": "...", "kind": "memory_limit"}`): clients branch on the kind, people read the
//! message. Names are snake_case and never change meaning; new kinds may be added.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The request is malformed or does not fit the model (400).
    BadRequest,
    /// No API key, or one that is not valid (401).
    Unauthorized,
    /// The key is valid but may not do this (403).
    Forbidden,
    /// No such deployment, version or route (404).
    NotFound,
    /// The route exists for other methods (405).
    MethodNotAllowed,
    /// The request body did not arrive in time (408).
    RequestTimeout,
    /// The request body is over the limit (413).
    PayloadTooLarge,
    /// The body's media type is not one the route takes (415).
    UnsupportedMediaType,
    /// The deployment was stored but cannot start (422).
    CannotStart,
    /// The deployment failed to start, or the server is still starting (503).
    NotReady,
    /// Every instance is busy and the queue is full: retry shortly (503, `Retry-After`).
    Overloaded,
    /// The call ran past its deadline (504).
    Timeout,
    /// The predictor or transformer reported a failure, or no instance could be made (500).
    PredictorFailed,
    /// The guest trapped (a panic, unreachable, a stack overflow); its instance was dropped
    /// (500).
    GuestTrapped,
    /// The guest's memory grew into its `resources.limits.memory`; its instance was dropped
    /// (500).
    MemoryLimit,
    /// The guest answered with something the interface does not allow (500).
    MalformedOutput,
    /// The route is known but the operation is not offered (501).
    NotImplemented,
    /// Anything else on the server's side (500).
    Internal,
}

impl ErrorKind {
    /// The kind an error of this HTTP status has when nothing more precise is known.
    pub fn of_status(status: u16) -> ErrorKind {
        match status {
            401 => ErrorKind::Unauthorized,
            403 => ErrorKind::Forbidden,
            404 => ErrorKind::NotFound,
            405 => ErrorKind::MethodNotAllowed,
            408 => ErrorKind::RequestTimeout,
            413 => ErrorKind::PayloadTooLarge,
            415 => ErrorKind::UnsupportedMediaType,
            422 => ErrorKind::CannotStart,
            501 => ErrorKind::NotImplemented,
            503 => ErrorKind::NotReady,
            504 => ErrorKind::Timeout,
            400..=499 => ErrorKind::BadRequest,
            _ => ErrorKind::Internal,
        }
    }
}
