//! Deployments: a folder with `deployment.json` beside its artifact files ([`config`]),
//! opened through capabilities ([`artifacts`]), started by the [`loader`] into a
//! [`Deployment`] with its own [`log`], kept by name in the [`registry`] and scaled by the
//! [`autoscale`] loop. A `--deploy` folder's definition may be renamed or inferred
//! ([`folder`]).

pub mod autoscale;
pub mod folder;
pub mod registry;
pub mod start;

use crate::definition::DeploymentConfig;
use crate::deployment_log::DeploymentLog;
use crate::lifecycle::LifecycleState;
use crate::predictor::{Predictor, PredictorStage};
use crate::transformer::TransformerStage;
use crate::wasm::transformer::ComponentTransformer;
use std::path::PathBuf;
use std::sync::Arc;

pub use crate::definition::DEFINITION_FILE;

/// What a running deployment serves with.
pub struct Serving {
    /// The predictor, behind its batcher when it batches.
    pub predictor: PredictorStage,
    /// Rewrites request bodies before the predictor and response bodies after it.
    pub transformer: Option<TransformerStage>,
    /// Its files, and the models opened from them (dropped when every stage is at zero).
    pub models: Arc<crate::native::models::ModelCache>,
}

/// Whether a deployment serves.
pub enum DeploymentStatus {
    Running(Serving),
    /// It could not start; the reason is also in its log.
    Failed(String),
}

/// A deployment as the server holds it.
pub struct Deployment {
    pub config: DeploymentConfig,
    /// The deployment folder (its artifact files).
    pub dir: PathBuf,
    pub log: Arc<DeploymentLog>,
    pub status: DeploymentStatus,
    /// Where its inferences are logged (`inference_logger` with a mode other than NONE).
    pub inference_log: Option<crate::inference_log::InferenceLogger>,
}

impl Deployment {
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// The version served when a request names none: the highest of a TF Serving folder's
    /// versions, else the definition's `model_version`.
    pub fn model_version(&self) -> u64 {
        self.versions()
            .map_or(u64::from(self.config.model_version), |v| v.served())
    }

    /// The versions of its TF Serving folder, when it is running a graph of one.
    pub fn versions(&self) -> Option<&crate::native::versions::Versions> {
        self.predictor().ok().and_then(Predictor::versions)
    }

    /// The predictor, if the deployment is running.
    pub fn predictor(&self) -> Result<&Predictor, &str> {
        self.serving().map(|s| s.predictor.predictor())
    }

    /// The predictor and transformer, if the deployment is running.
    pub fn serving(&self) -> Result<&Serving, &str> {
        match &self.status {
            DeploymentStatus::Running(s) => Ok(s),
            DeploymentStatus::Failed(reason) => Err(reason),
        }
    }

    /// The transformer, if the deployment is running and has one.
    pub fn transformer(&self) -> Option<&ComponentTransformer> {
        self.serving()
            .ok()
            .and_then(|s| s.transformer.as_ref())
            .map(TransformerStage::component)
    }

    /// A V2-style state name. A deployment at zero is ready: it answers after a cold start
    /// of milliseconds.
    pub fn state(&self) -> &'static str {
        match self.status {
            DeploymentStatus::Running(_) => "READY",
            DeploymentStatus::Failed(_) => "UNAVAILABLE",
        }
    }

    /// The Hopsworks state: `Running`; `Idle` when every component stage is scaled to
    /// zero; `Failed`.
    pub fn lifecycle_state(&self) -> LifecycleState {
        let Ok(serving) = self.serving() else {
            return LifecycleState::Failed;
        };
        let predictor_idle = serving.predictor.predictor().is_at_zero();
        let transformer_idle = serving
            .transformer
            .as_ref()
            .is_none_or(|t| t.component().pool().is_at_zero());
        if predictor_idle && transformer_idle {
            LifecycleState::Idle
        } else {
            LifecycleState::Running
        }
    }
}
