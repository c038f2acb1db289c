//! The middle of the request path: a decoded [`InferenceRequest`] is dispatched to the
//! deployment's predictor and comes back as an [`Output`] for the protocol to encode.
//!
//! ```text
//! HTTP → preprocess → protocol::{v1,v2}::decode → dispatch → protocol::{v1,v2}::encode → postprocess → HTTP
//!            │                                       │                                       │
//!   transformer (if any)        component pool (JSON or tensors) | native graph   transformer (if any)
//! ```
//!
//! `dispatch` sends a request through the deployment's batcher when it has one
//! ([`crate::batching`]), which merges requests and calls [`run`] once per batch.

use crate::batching::BatchTiming;
use crate::deployment::Deployment;
use crate::native::ModelError;
use crate::predictor::Predictor;
use crate::tensor::{Tensor, json as tensor_json, stream};
use crate::wasm::component::GuestError;
use crate::wasm::pool::PoolError;
use crate::wasm::transformer::Stage;
use bytes::Bytes;
use serde_json::Value;
use serde_json::value::RawValue;

/// A request after protocol decoding.
pub enum Payload {
    /// KServe V1: the `instances` (row format) or `inputs` (columnar) JSON, untouched.
    Json { columnar: bool, body: Box<RawValue> },
    /// V2: decoded tensors, and the outputs asked for (all when `None`).
    Tensors {
        inputs: Vec<Tensor>,
        outputs: Option<Vec<String>>,
    },
}

/// A prediction before protocol encoding.
pub enum Output {
    /// A component's JSON predictions, untouched.
    Json(Box<RawValue>),
    /// Named tensors (a graph's outputs, or a component's typed answer).
    Tensors(Vec<Tensor>),
}

/// Why a request got no prediction. Each kind has one HTTP status (see `http::error`).
#[derive(Clone, Debug, thiserror::Error)]
pub enum InferenceError {
    /// The request is malformed or does not fit the model.
    #[error("{0}")]
    BadRequest(String),
    #[error("deployment {0:?} not found")]
    NotFound(String),
    #[error("deployment {name:?} is not ready: {reason}")]
    NotReady { name: String, reason: String },
    /// The predictor failed (an error it reported, a model run error, no instance).
    #[error("deployment {deployment:?}: {message}")]
    PredictorFailed { deployment: String, message: String },
    /// The guest trapped; its instance was discarded.
    #[error("deployment {deployment:?}: {message}")]
    Trapped { deployment: String, message: String },
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

/// The deployment's predictor, or the not-ready error every endpoint answers for a
/// deployment that failed to start.
pub fn running(deployment: &Deployment) -> Result<&Predictor, InferenceError> {
    deployment
        .predictor()
        .map_err(|reason| InferenceError::NotReady {
            name: deployment.name().to_string(),
            reason: reason.to_string(),
        })
}

/// A prediction, and how it was batched when the deployment batches.
pub struct Answer {
    pub output: Output,
    pub batch: Option<BatchTiming>,
}

/// Runs one request on `deployment`: through its batcher when it has one, else directly.
pub async fn dispatch(deployment: &Deployment, payload: Payload) -> Result<Answer, InferenceError> {
    let serving = deployment
        .serving()
        .map_err(|reason| InferenceError::NotReady {
            name: deployment.name().to_string(),
            reason: reason.to_string(),
        })?;
    match &serving.batcher {
        Some(batcher) => batcher.submit(payload).await,
        None => run(&serving.predictor, deployment.name(), payload)
            .await
            .map(|output| Answer {
                output,
                batch: None,
            }),
    }
}

/// The payload as the predictor takes it: a graph's V1 JSON becomes its input tensors. The
/// batcher does this in the caller's task, so requests are decoded in parallel and batches
/// merge tensors, not text.
pub fn prepare(predictor: &Predictor, payload: Payload) -> Result<Payload, InferenceError> {
    match (predictor, payload) {
        (Predictor::Native(model), Payload::Json { columnar, body }) => Ok(Payload::Tensors {
            inputs: json_to_tensors(model.inputs(), columnar, &body)?,
            outputs: None,
        }),
        (_, payload) => Ok(payload),
    }
}

/// Runs one payload (a request, or a merged batch) on a predictor; `name` is the
/// deployment's, for errors.
pub async fn run(
    predictor: &Predictor,
    name: &str,
    payload: Payload,
) -> Result<Output, InferenceError> {
    match (predictor, payload) {
        (Predictor::Component(c), Payload::Json { body, .. }) => c
            .predict_json(body.get())
            .await
            .map(Output::Json)
            .map_err(|e| guest_error(name, e)),
        (Predictor::Component(c), Payload::Tensors { inputs, outputs }) => {
            let answer = c
                .predict_tensors(inputs)
                .await
                .map_err(|e| guest_error(name, e))?;
            select_outputs(answer, outputs.as_deref()).map(Output::Tensors)
        }
        (Predictor::Native(model), Payload::Json { columnar, body }) => {
            let inputs = json_to_tensors(model.inputs(), columnar, &body)?;
            let answer = model.run(inputs).await.map_err(|e| model_error(name, e))?;
            Ok(Output::Tensors(answer))
        }
        (Predictor::Native(model), Payload::Tensors { inputs, outputs }) => {
            let answer = model.run(inputs).await.map_err(|e| model_error(name, e))?;
            select_outputs(answer, outputs.as_deref()).map(Output::Tensors)
        }
    }
}

/// Runs the deployment's transformer `preprocess` on a request body (JSON); the body
/// itself when there is no transformer.
pub async fn preprocess(deployment: &Deployment, body: Bytes) -> Result<Bytes, InferenceError> {
    if deployment.transformer().is_some() {
        // The transformer reads the body as sent, before any protocol decoder checks it.
        crate::tensor::nesting::check_depth(&body).map_err(|e| InferenceError::BadRequest(e.0))?;
    }
    transform(deployment, Stage::Preprocess, body).await
}

/// Runs the deployment's transformer `postprocess` on a response body (JSON); the body
/// itself when there is no transformer.
pub async fn postprocess(
    deployment: &Deployment,
    body: Vec<u8>,
) -> Result<Vec<u8>, InferenceError> {
    if deployment.transformer().is_none() {
        return Ok(body);
    }
    transform(deployment, Stage::Postprocess, Bytes::from(body))
        .await
        .map(Vec::from)
}

async fn transform(
    deployment: &Deployment,
    stage: Stage,
    body: Bytes,
) -> Result<Bytes, InferenceError> {
    let Some(transformer) = deployment.transformer() else {
        return Ok(body);
    };
    if let Ok(serving) = deployment.serving()
        && let Some(batchers) = &serving.transformer_batchers
        && let Some(payload) = crate::batching::runner::rows_payload(stage, &body)
    {
        let answer = batchers.of(stage).submit(payload).await?;
        let Output::Json(body) = answer.output else {
            unreachable!("a transformer stage answers a JSON body")
        };
        return Ok(Bytes::from(String::from(Box::<str>::from(body))));
    }
    let text = std::str::from_utf8(&body)
        .map_err(|_| InferenceError::BadRequest("the request body is not UTF-8 JSON".into()))?;
    transformer
        .transform(stage, text)
        .await
        .map(Bytes::from)
        .map_err(|e| stage_error(deployment.name(), "transformer", e))
}

fn guest_error(deployment: &str, e: GuestError) -> InferenceError {
    stage_error(deployment, "predictor", e)
}

/// A guest's error as the client sees it: bad input is the client's; the rest name the
/// deployment and the stage ("the predictor failed: ...", "the transformer trapped: ...").
pub(crate) fn stage_error(deployment: &str, stage: &str, e: GuestError) -> InferenceError {
    let deployment = deployment.to_string();
    match e {
        GuestError::BadInput(m) => InferenceError::BadRequest(m),
        GuestError::Pool(PoolError::QueueFull { .. }) => InferenceError::Overloaded {
            deployment,
            message: format!("the {stage} is overloaded: {e}; retry shortly"),
        },
        GuestError::Timeout(_) => InferenceError::Timeout {
            deployment,
            message: format!("the {stage} {e}"),
        },
        GuestError::Trapped(_) | GuestError::MemoryLimit(_) => InferenceError::Trapped {
            deployment,
            message: format!("the {stage} {e}"),
        },
        GuestError::Malformed(_) | GuestError::OutputTooLarge { .. } => {
            InferenceError::MalformedOutput {
                deployment,
                message: format!("the {stage} {e}"),
            }
        }
        GuestError::Failed(_) | GuestError::Pool(_) => InferenceError::PredictorFailed {
            deployment,
            message: format!("the {stage} {e}"),
        },
    }
}

fn model_error(deployment: &str, e: ModelError) -> InferenceError {
    match e {
        ModelError::Input(m) => InferenceError::BadRequest(m),
        e @ ModelError::Overloaded { .. } => InferenceError::Overloaded {
            deployment: deployment.to_string(),
            message: format!("{e}; retry shortly"),
        },
        other => InferenceError::PredictorFailed {
            deployment: deployment.to_string(),
            message: other.to_string(),
        },
    }
}

/// Keeps the outputs a V2 request asked for, in its order.
fn select_outputs(
    outputs: Vec<Tensor>,
    wanted: Option<&[String]>,
) -> Result<Vec<Tensor>, InferenceError> {
    let Some(wanted) = wanted else {
        return Ok(outputs);
    };
    let mut outputs: Vec<Option<Tensor>> = outputs.into_iter().map(Some).collect();
    wanted
        .iter()
        .map(|name| {
            outputs
                .iter_mut()
                .find(|t| t.as_ref().is_some_and(|t| &t.name == name))
                .and_then(Option::take)
                .ok_or_else(|| {
                    InferenceError::BadRequest(format!(
                        "requested output {name:?} is not an output of the model"
                    ))
                })
        })
        .collect()
}

/// V1 JSON for a graph: rows (`instances`) or columns (`inputs`), one tensor per graph input.
/// With one input, an instance is that input's row; with several, an object keyed by input
/// name (TensorFlow Serving's formats).
fn json_to_tensors(
    inputs: &[crate::tensor::TensorSpec],
    columnar: bool,
    body: &RawValue,
) -> Result<Vec<Tensor>, InferenceError> {
    let bad = |m: String| InferenceError::BadRequest(m);
    let specs: Vec<&crate::tensor::TensorSpec> = inputs.iter().collect();
    if let [only] = specs.as_slice()
        && let Some(t) = stream::decode_nested_floats(&only.name, only.datatype, body.get())
    {
        return Ok(vec![t]);
    }
    let value: Value = serde_json::from_str(body.get()).map_err(|e| bad(e.to_string()))?;
    let by_name = |lookup: &dyn Fn(&str) -> Option<Value>| -> Result<Vec<Tensor>, InferenceError> {
        specs
            .iter()
            .map(|spec| {
                let v = lookup(&spec.name)
                    .ok_or_else(|| bad(format!("missing input {:?}", spec.name)))?;
                tensor_json::decode_nested(&spec.name, spec.datatype, &v).map_err(|e| bad(e.0))
            })
            .collect()
    };
    match (&value, specs.as_slice()) {
        (Value::Object(map), _) if columnar => by_name(&|n| map.get(n).cloned()),
        (_, [only]) if columnar || value.is_array() => {
            tensor_json::decode_nested(&only.name, only.datatype, &value)
                .map(|t| vec![t])
                .map_err(|e| bad(e.0))
        }
        (Value::Array(rows), _) => by_name(&|n| {
            rows.iter()
                .map(|row| row.as_object().and_then(|o| o.get(n)).cloned())
                .collect::<Option<Vec<Value>>>()
                .map(Value::Array)
        }),
        _ if columnar => Err(bad(
            "inputs must be an array or an object keyed by input name".into(),
        )),
        _ => Err(bad("instances must be an array".into())),
    }
}
