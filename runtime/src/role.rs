//! Which part of a deployment something is about: its predictor or its transformer. One
//! word for it in the logs' `component` field, the metrics' `component` label, the world a
//! script becomes and the stage the autoscaler warms.

use prometheus_client::encoding::{EncodeLabelValue, LabelValueEncoder};
use serde::{Deserialize, Serialize};
use std::fmt::Write;

/// A deployment's predictor, or the transformer in front of it.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Predictor,
    Transformer,
}

impl Role {
    /// The lowercase name (log field, metric label, WIT world).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Predictor => "predictor",
            Role::Transformer => "transformer",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl EncodeLabelValue for Role {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        encoder.write_str(self.as_str())
    }
}
