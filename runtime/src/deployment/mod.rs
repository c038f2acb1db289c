//! Deployments: a folder with `deployment.json` beside its artifact files ([`config`]),
//! opened through capabilities ([`artifacts`]), started by the [`loader`] into a
//! [`Deployment`] with its own [`log`], and kept by name in the [`registry`].

pub mod artifacts;
pub mod config;
pub mod loader;
pub mod log;
pub mod registry;

use crate::predictor::Predictor;
use config::DeploymentConfig;
use log::DeploymentLog;
use std::path::PathBuf;
use std::sync::Arc;

/// The file that defines a deployment, inside its folder.
pub const DEFINITION_FILE: &str = "deployment.json";

/// Whether a deployment serves.
pub enum DeploymentStatus {
    Running(Predictor),
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
}

impl Deployment {
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// The predictor, if the deployment is running.
    pub fn predictor(&self) -> Result<&Predictor, &str> {
        match &self.status {
            DeploymentStatus::Running(p) => Ok(p),
            DeploymentStatus::Failed(reason) => Err(reason),
        }
    }

    /// A V2-style state name.
    pub fn state(&self) -> &'static str {
        match self.status {
            DeploymentStatus::Running(_) => "READY",
            DeploymentStatus::Failed(_) => "UNAVAILABLE",
        }
    }
}
