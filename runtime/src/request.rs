//! What travels down the request path, whatever the protocol: a decoded [`Payload`], the
//! predictor's [`Output`], the [`Answer`] with its batch timing, and the [`InferenceError`]
//! that stops it. A leaf: protocols, batching, predictors and the chain all speak it.

use crate::error_kind::ErrorKind;
use crate::tensor::{Tensor, TensorSpec};
use serde_json::value::RawValue;
use std::time::Duration;

/// A request after protocol decoding.
pub enum Payload {
    /// KServe V1 for a component: the `instances` (row format) or `inputs` (columnar) JSON,
    /// untouched.
    Json { columnar: bool, body: Box<RawValue> },
    /// Tensors (V2, or V1 decoded for a graph), and the outputs asked for (all when `None`).
    Tensors {
        inputs: Vec<Tensor>,
        outputs: Option<Vec<String>>,
        /// The SavedModel signature whose graph runs them (TF Serving's `signature_name`),
        /// `None` for the served one.
        signature: Option<String>,
        /// The version of a TF Serving folder whose graph runs them (`/versions/N`), `None`
        /// for the served one.
        version: Option<u64>,
    },
}

impl Payload {
    /// Has `version` of the model folder run the payload (tensors only; a component's JSON
    /// has no versions).
    pub fn set_version(&mut self, version: Option<u64>) {
        if let Payload::Tensors { version: v, .. } = self {
            *v = version;
        }
    }
}

/// What a predictor takes, so a protocol decodes a request once into it.
#[derive(Clone, Copy)]
pub enum Accepts<'a> {
    /// JSON as sent (a component reads its own `instances`), or tensors.
    JsonOrTensors,
    /// Tensors of these inputs only (a graph): V1 JSON is decoded into them.
    Tensors(&'a [TensorSpec]),
}

/// A prediction before protocol encoding.
pub enum Output {
    /// A component's JSON predictions, untouched.
    Json(Box<RawValue>),
    /// Named tensors (a graph's outputs, or a component's typed answer).
    Tensors(Vec<Tensor>),
}

/// A prediction, and how it was batched when the deployment batches.
pub struct Answer {
    pub output: Output,
    pub batch: Option<BatchTiming>,
}

/// How a request was batched: reported to the client in `Server-Timing`.
#[derive(Clone, Copy, Debug)]
pub struct BatchTiming {
    /// From arrival to its batch starting to run.
    pub queue: Duration,
    /// The batch's run (merge, predict, split; reruns included).
    pub compute: Duration,
    /// Rows in its batch.
    pub rows: usize,
    /// Requests in its batch.
    pub requests: usize,
}

impl BatchTiming {
    /// The `Server-Timing` header value (W3C), durations in milliseconds.
    pub fn server_timing(&self) -> String {
        format!(
            "batch-queue;dur={:.3}, compute;dur={:.3}, batch;desc=\"{} rows, {} requests\"",
            self.queue.as_secs_f64() * 1e3,
            self.compute.as_secs_f64() * 1e3,
            self.rows,
            self.requests
        )
    }
}

/// Why a request got no prediction. Each variant has one [`ErrorKind`] and one HTTP status.
#[derive(Clone, Debug, thiserror::Error)]
pub enum InferenceError {
    /// The request is malformed or does not fit the model.
    #[error("{0}")]
    BadRequest(String),
    #[error("deployment {0:?} not found")]
    NotFound(String),
    /// The request asks for something this deployment does not do (501).
    #[error("{0}")]
    Unimplemented(String),
    #[error("deployment {name:?} is not ready: {reason}")]
    NotReady { name: String, reason: String },
    /// The predictor failed (an error it reported, a model run error, no instance).
    #[error("deployment {deployment:?}: {message}")]
    PredictorFailed { deployment: String, message: String },
    /// The guest trapped; its instance was discarded.
    #[error("deployment {deployment:?}: {message}")]
    Trapped { deployment: String, message: String },
    /// The guest's memory grew into its limit; its instance was discarded.
    #[error("deployment {deployment:?}: {message}")]
    MemoryLimit { deployment: String, message: String },
    /// Every instance is busy and the queue is full: come back shortly (503, Retry-After).
    #[error("deployment {deployment:?}: {message}")]
    Overloaded { deployment: String, message: String },
    /// The call ran past its deadline and was stopped.
    #[error("deployment {deployment:?}: {message}")]
    Timeout { deployment: String, message: String },
    /// The guest answered with something the interface does not allow.
    #[error("deployment {deployment:?}: {message}")]
    MalformedOutput { deployment: String, message: String },
}

impl InferenceError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            InferenceError::BadRequest(_) => ErrorKind::BadRequest,
            InferenceError::NotFound(_) => ErrorKind::NotFound,
            InferenceError::Unimplemented(_) => ErrorKind::NotImplemented,
            InferenceError::NotReady { .. } => ErrorKind::NotReady,
            InferenceError::PredictorFailed { .. } => ErrorKind::PredictorFailed,
            InferenceError::Trapped { .. } => ErrorKind::GuestTrapped,
            InferenceError::MemoryLimit { .. } => ErrorKind::MemoryLimit,
            InferenceError::Overloaded { .. } => ErrorKind::Overloaded,
            InferenceError::Timeout { .. } => ErrorKind::Timeout,
            InferenceError::MalformedOutput { .. } => ErrorKind::MalformedOutput,
        }
    }

    /// The HTTP status of this error.
    pub fn status(&self) -> u16 {
        match self {
            InferenceError::BadRequest(_) => 400,
            InferenceError::NotFound(_) => 404,
            InferenceError::Unimplemented(_) => 501,
            InferenceError::NotReady { .. } | InferenceError::Overloaded { .. } => 503,
            InferenceError::Timeout { .. } => 504,
            InferenceError::PredictorFailed { .. }
            | InferenceError::Trapped { .. }
            | InferenceError::MemoryLimit { .. }
            | InferenceError::MalformedOutput { .. } => 500,
        }
    }
}
