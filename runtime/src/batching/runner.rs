//! What a batch runs on: the predictor (merged payloads, one call), or one stage of the
//! transformer. A transformer stage batches V1 bodies made only of rows, `{"instances": [...]}`
//! before the predictor and `{"predictions": [...]}` after it: the rows of its members are
//! merged into one body, `preprocess` or `postprocess` runs once on it, and the body it
//! answers must again be only rows under the same key, one per merged row, to be split back.
//! Otherwise every member is rerun alone (the batcher's isolation), so a transformer that
//! reshapes its body still answers everyone correctly, just without the gain.

use super::merge::{self, SplitError};
use crate::inference::{self, InferenceError, Output, Payload};
use crate::metrics::BatchStage;
use crate::predictor::Predictor;
use crate::wasm::transformer::{ComponentTransformer, Stage};
use serde_json::value::RawValue;
use std::collections::BTreeMap;
use std::sync::Arc;

pub enum Runner {
    Predictor(Arc<Predictor>),
    Transformer {
        transformer: Arc<ComponentTransformer>,
        stage: Stage,
    },
}

/// The key a transformer stage's bodies hold their rows under.
fn key(stage: Stage) -> &'static str {
    match stage {
        Stage::Preprocess => "instances",
        Stage::Postprocess => "predictions",
    }
}

/// The metrics label of a batch queue.
pub fn label(stage: Option<Stage>) -> BatchStage {
    match stage {
        None => BatchStage::predict,
        Some(Stage::Preprocess) => BatchStage::preprocess,
        Some(Stage::Postprocess) => BatchStage::postprocess,
    }
}

/// A body that is only rows under the stage's key, as a payload the batcher merges; `None`
/// for any other body (it goes through the stage alone).
pub fn rows_payload(stage: Stage, body: &[u8]) -> Option<Payload> {
    let (rows, _) = only_rows(key(stage), std::str::from_utf8(body).ok()?)?;
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

impl Runner {
    /// The payload as this runner takes it (a graph's V1 JSON becomes tensors).
    pub(super) fn prepare(&self, payload: Payload) -> Result<Payload, InferenceError> {
        match self {
            Runner::Predictor(p) => inference::prepare(p, payload),
            Runner::Transformer { .. } => Ok(payload),
        }
    }

    /// One call on a payload (a request, or a merged batch).
    pub(super) async fn run(&self, name: &str, payload: Payload) -> Result<Output, InferenceError> {
        match self {
            Runner::Predictor(p) => inference::run(p, name, payload).await,
            Runner::Transformer { transformer, stage } => {
                let Payload::Json { body, .. } = payload else {
                    unreachable!("transformer stages batch JSON rows only")
                };
                let answer = transformer
                    .transform(*stage, &wrap(key(*stage), &body))
                    .await
                    .map_err(|e| inference::stage_error(name, "transformer", e))?;
                RawValue::from_string(answer)
                    .map(Output::Json)
                    .map_err(|e| InferenceError::MalformedOutput {
                        deployment: name.to_string(),
                        message: format!("the transformer answered a body that is not JSON: {e}"),
                    })
            }
        }
    }

    /// A merged batch's answer cut back into one per member (`rows` each).
    pub(super) fn split(&self, output: Output, rows: &[usize]) -> Result<Vec<Output>, SplitError> {
        let Runner::Transformer { stage, .. } = self else {
            return merge::split(output, rows);
        };
        let key = key(*stage);
        let Output::Json(body) = output else {
            unreachable!("a transformer answers a JSON body")
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
                Output::Tensors(_) => unreachable!("JSON rows split into JSON rows"),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bodies_of_rows_are_batched() {
        let rows = |stage, body: &str| match rows_payload(stage, body.as_bytes()) {
            Some(Payload::Json { body, .. }) => Some(body.get().to_string()),
            _ => None,
        };
        assert_eq!(
            rows(Stage::Preprocess, r#"{"instances": [1, {"a": 2}]}"#).as_deref(),
            Some(r#"[1, {"a": 2}]"#)
        );
        assert!(rows(Stage::Postprocess, r#" {"predictions" : [[0.1]]} "#).is_some());
        for body in [
            r#"{"instances": [1], "id": 7}"#,
            r#"{"inputs": [1]}"#,
            r#"{"instances": {"a": [1]}}"#,
            r#"{"predictions": [1]}"#,
            "[1]",
            "not json",
        ] {
            assert_eq!(rows(Stage::Preprocess, body), None, "{body}");
        }
    }
}
