//! A deployment's transformer as a stage of the request path: `preprocess` on request
//! bodies before the predictor, `postprocess` on response bodies after it, each behind its
//! own batcher when `transformer.inference_batcher` is enabled.
//!
//! A phase batches V1 bodies made only of rows, `{"instances": [...]}` before the predictor
//! and `{"predictions": [...]}` after it: the rows of its members are merged into one body,
//! the phase runs once on it, and the body it answers must again be only rows under the same
//! key, one per merged row, to be split back. Otherwise every member is rerun alone (the
//! batcher's isolation), so a transformer that reshapes its body still answers everyone
//! correctly, just without the gain. [`assemble`] makes the stage from a definition.

pub mod assemble;

use crate::batching::merge::{self, SplitError};
use crate::batching::{BatchSettings, Batcher, Runner};
use crate::definition::DeploymentConfig;
use crate::deployment_log::DeploymentLog;
use crate::metrics::{BatchQueue, Metrics};
use crate::request::{InferenceError, Output, Payload};
use crate::role::Role;
use crate::wasm::transformer::ComponentTransformer;
pub use crate::wasm::transformer::Phase;
use bytes::Bytes;
use serde_json::value::RawValue;
use std::collections::BTreeMap;
use std::sync::Arc;

pub struct TransformerStage {
    component: Arc<ComponentTransformer>,
    /// `preprocess` and `postprocess` batchers, when batching is enabled.
    batchers: Option<[Batcher<PhaseRunner>; 2]>,
}

impl TransformerStage {
    /// Starts the phases' batchers if the definition enables them; they run on as many
    /// slots as the transformer has instances.
    pub fn new(
        component: ComponentTransformer,
        config: &DeploymentConfig,
        max_queue: usize,
        metrics: &Metrics,
        log: &Arc<DeploymentLog>,
    ) -> TransformerStage {
        let component = Arc::new(component);
        let batcher = config
            .transformer
            .as_ref()
            .and_then(|t| t.inference_batcher.as_ref());
        let pool = component.pool();
        let settings = BatchSettings::of(batcher, max_queue, pool.config().scaling.max_instances);
        let batchers = settings.map(|settings| {
            settings.log(log, "transformer ");
            // In the order `apply` reads them back.
            [Phase::Preprocess, Phase::Postprocess].map(|phase| {
                Batcher::start(
                    &config.name,
                    settings.clone(),
                    Arc::new(PhaseRunner {
                        component: Arc::clone(&component),
                        phase,
                    }),
                    metrics.batch(&config.name, label(phase)),
                    pool.metrics.queue.clone(),
                    Arc::clone(log),
                )
            })
        });
        TransformerStage {
            component,
            batchers,
        }
    }

    pub fn component(&self) -> &ComponentTransformer {
        &self.component
    }

    /// Runs `phase` on a JSON body: through its batcher when the body is only rows and the
    /// transformer batches, else alone.
    pub async fn apply(
        &self,
        deployment: &str,
        phase: Phase,
        body: Bytes,
    ) -> Result<Bytes, InferenceError> {
        if let Some(batchers) = &self.batchers
            && let Some(payload) = rows_payload(phase, &body)
        {
            let [preprocess, postprocess] = batchers;
            let batcher = match phase {
                Phase::Preprocess => preprocess,
                Phase::Postprocess => postprocess,
            };
            return match batcher.submit(payload).await?.output {
                Output::Json(body) => Ok(Bytes::from(String::from(Box::<str>::from(body)))),
                Output::Tensors(_) => Err(not_json(deployment)),
            };
        }
        let text = std::str::from_utf8(&body)
            .map_err(|_| InferenceError::BadRequest("the request body is not UTF-8 JSON".into()))?;
        self.component
            .transform(phase, text)
            .await
            .map(Bytes::from)
            .map_err(|e| e.for_client(deployment, Role::Transformer))
    }
}

fn not_json(deployment: &str) -> InferenceError {
    InferenceError::MalformedOutput {
        deployment: deployment.to_string(),
        message: "the transformer's batch answered tensors, not a JSON body".into(),
    }
}

/// The metrics label of a phase's batch queue.
fn label(phase: Phase) -> BatchQueue {
    match phase {
        Phase::Preprocess => BatchQueue::preprocess,
        Phase::Postprocess => BatchQueue::postprocess,
    }
}

/// The key a phase's bodies hold their rows under.
fn key(phase: Phase) -> &'static str {
    match phase {
        Phase::Preprocess => "instances",
        Phase::Postprocess => "predictions",
    }
}

/// One phase of the transformer, as the batcher runs it.
struct PhaseRunner {
    component: Arc<ComponentTransformer>,
    phase: Phase,
}

impl Runner for PhaseRunner {
    async fn run(&self, deployment: &str, payload: Payload) -> Result<Output, InferenceError> {
        let Payload::Json { body, .. } = payload else {
            return Err(InferenceError::BadRequest(
                "a transformer phase takes a JSON body".into(),
            ));
        };
        let answer = self
            .component
            .transform(self.phase, &wrap(key(self.phase), &body))
            .await
            .map_err(|e| e.for_client(deployment, Role::Transformer))?;
        RawValue::from_string(answer)
            .map(Output::Json)
            .map_err(|e| InferenceError::MalformedOutput {
                deployment: deployment.to_string(),
                message: format!("the transformer answered a body that is not JSON: {e}"),
            })
    }

    fn split(&self, output: Output, rows: &[usize]) -> Result<Vec<Output>, SplitError> {
        let key = key(self.phase);
        let Output::Json(body) = output else {
            return Err(SplitError("the transformer answered tensors".into()));
        };
        let (merged, _) = only_rows(key, body.get()).ok_or_else(|| {
            SplitError(format!(
                "the transformer's answer holds more than {key:?} rows"
            ))
        })?;
        merge::split(Output::Json(merged.to_owned()), rows)?
            .into_iter()
            .map(|part| match part {
                Output::Json(rows) => RawValue::from_string(wrap(key, &rows))
                    .map(Output::Json)
                    .map_err(|e| SplitError(e.to_string())),
                Output::Tensors(_) => Err(SplitError("JSON rows split into tensors".into())),
            })
            .collect()
    }
}

/// A body that is only rows under the phase's key, as a payload the batcher merges; `None`
/// for any other body (it goes through the phase alone).
fn rows_payload(phase: Phase, body: &[u8]) -> Option<Payload> {
    let (rows, _) = only_rows(key(phase), std::str::from_utf8(body).ok()?)?;
    Some(Payload::Json {
        columnar: false,
        body: rows.to_owned(),
    })
}

/// The array `text` holds under `key`, if that is all it holds.
fn only_rows<'t>(key: &str, text: &'t str) -> Option<(&'t RawValue, usize)> {
    let fields: BTreeMap<&str, &RawValue> = serde_json::from_str(text).ok()?;
    if fields.len() != 1 {
        return None;
    }
    let rows = *fields.get(key)?;
    let n = serde_json::from_str::<Vec<&RawValue>>(rows.get())
        .ok()?
        .len();
    Some((rows, n))
}

fn wrap(key: &str, rows: &RawValue) -> String {
    format!("{{\"{key}\":{}}}", rows.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bodies_of_rows_are_batched() {
        let rows = |phase, body: &str| match rows_payload(phase, body.as_bytes()) {
            Some(Payload::Json { body, .. }) => Some(body.get().to_string()),
            _ => None,
        };
        assert_eq!(
            rows(Phase::Preprocess, r#"{"instances": [1, {"a": 2}]}"#).as_deref(),
            Some(r#"[1, {"a": 2}]"#)
        );
        assert!(rows(Phase::Postprocess, r#" {"predictions" : [[0.1]]} "#).is_some());
        for body in [
            r#"{"instances": [1], "id": 7}"#,
            r#"{"inputs": [1]}"#,
            r#"{"instances": {"a": [1]}}"#,
            r#"{"predictions": [1]}"#,
            "[1]",
            "not json",
        ] {
            assert_eq!(rows(Phase::Preprocess, body), None, "{body}");
        }
    }
}
