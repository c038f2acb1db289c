//! Turns a deployment folder into a [`Deployment`]: read and validate the definition,
//! reserve its share of the node, open its artifacts, assemble its predictor and transformer
//! (each next to its stage: `predictor::assemble`, `transformer::assemble`), and attach its
//! inference logger. A TF Serving folder's highest version becomes its `model_version`. A failure after the definition is read gives a deployment in the
//! Failed state with the reason in its log, so it is listed and explains itself.

use super::{Deployment, DeploymentStatus, Serving};
use crate::artifacts::Artifacts;
use crate::capacity::Reservation;
use crate::definition::{DEFINITION_FILE, DeploymentConfig, MAX_DEFINITION_BYTES};
use crate::deployment_log::{DEFAULT_LOG_LINES, DeploymentLog};
use crate::native::models::ModelCache;
use crate::predictor::{self, PredictorStage};
use crate::process::{DeployError, ProcessState};
use crate::transformer;
use std::path::Path;
use std::sync::Arc;

/// What `predictor check` reports of a folder that would serve.
#[derive(Debug)]
pub struct CheckReport {
    pub config: DeploymentConfig,
    pub warnings: Vec<String>,
}

impl Deployment {
    /// Starts the deployment in `dir`. An unreadable definition is an error (there is no
    /// name to file the failure under); any later failure gives a deployment in the Failed
    /// state, with the reason in its log.
    pub async fn start(process: &Arc<ProcessState>, dir: &Path) -> Result<Deployment, DeployError> {
        let (artifacts, config, warnings) = read_definition(dir)?;
        let log = DeploymentLog::new(&config.name, DEFAULT_LOG_LINES);
        for w in &warnings {
            log.warn(w.clone());
        }
        process.metrics().forget(&config.name);
        let capacity = process.capacity();
        let started = match capacity.reserve(&config.name, Reservation::of(&config)) {
            Ok(()) => serving(process, &config, artifacts, &log).await,
            Err(e) => Err(e.into()),
        };
        let status = match started {
            Ok(serving) => DeploymentStatus::Running(serving),
            Err(e) => {
                if !matches!(e, DeployError::Capacity(_)) {
                    capacity.release(&config.name);
                }
                log.error(format!("failed to start: {e}"));
                DeploymentStatus::Failed(e.to_string())
            }
        };
        let inference_log = match &status {
            DeploymentStatus::Running(_) => process.inference_logger(&config, &log),
            DeploymentStatus::Failed(_) => None,
        };
        Ok(Deployment {
            config,
            dir: dir.to_path_buf(),
            log,
            status,
            inference_log,
        })
    }

    /// Does everything [`Deployment::start`] does and reports; errors instead of a Failed
    /// state.
    pub async fn check(
        process: &Arc<ProcessState>,
        dir: &Path,
    ) -> Result<CheckReport, DeployError> {
        let (artifacts, config, warnings) = read_definition(dir)?;
        let log = DeploymentLog::new(&config.name, DEFAULT_LOG_LINES);
        serving(process, &config, artifacts, &log).await?;
        Ok(CheckReport { config, warnings })
    }
}

/// Opens the folder `dir` as a capability and reads and validates its `deployment.json`
/// through it (size-checked before it is read).
pub fn read_definition(
    dir: &Path,
) -> Result<(Arc<Artifacts>, DeploymentConfig, Vec<String>), DeployError> {
    let path = dir.join(DEFINITION_FILE);
    let unreadable = |message: String| DeployError::Definition {
        path: path.display().to_string(),
        message,
    };
    let artifacts = Artifacts::open(dir).map_err(|e| unreadable(e.to_string()))?;
    let bytes = artifacts
        .read(DEFINITION_FILE, MAX_DEFINITION_BYTES)
        .map_err(|e| unreadable(e.to_string()))?;
    let text = String::from_utf8(bytes).map_err(|_| unreadable("not UTF-8 text".into()))?;
    let mut config = DeploymentConfig::parse(&text).map_err(|e| unreadable(e.0))?;
    let mut warnings = config.validate()?;
    warnings.extend(folder_version(&mut config, &artifacts, &text));
    Ok((Arc::new(artifacts), config, warnings))
}

/// Makes a TF Serving folder's highest version the deployment's `model_version` (the one
/// served when a request names none, as TF Serving serves it); a warning when the
/// definition named another.
fn folder_version(
    config: &mut DeploymentConfig,
    artifacts: &Artifacts,
    text: &str,
) -> Option<String> {
    let file = config
        .model_file
        .as_deref()
        .filter(|f| artifacts.is_dir(f))?;
    let versions = crate::native::tensorflow::versions(artifacts, file).ok()??;
    let highest = u32::try_from(*versions.last()?).ok().filter(|&v| v >= 1)?;
    let named = serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .is_some_and(|v| v.get("model_version").is_some());
    let previous = std::mem::replace(&mut config.model_version, highest);
    (named && previous != highest).then(|| {
        format!(
            "model_version {previous} is not a version of the TF Serving folder {file}: it serves version {highest} (its highest) by default"
        )
    })
}

/// The deployment's stages, assembled.
async fn serving(
    process: &Arc<ProcessState>,
    config: &DeploymentConfig,
    artifacts: Arc<Artifacts>,
    log: &Arc<DeploymentLog>,
) -> Result<Serving, DeployError> {
    // The definition's choice of predictor is checked before its files, as a user reads it.
    config.source()?;
    check_files(config, &artifacts)?;
    let models = Arc::new(ModelCache::new(Arc::clone(&artifacts)));
    let predictor =
        predictor::assemble::assemble(process, config, &artifacts, &models, log).await?;
    let transformer =
        transformer::assemble::assemble(process, config, &artifacts, &models, log).await?;
    Ok(Serving {
        predictor: PredictorStage::new(
            predictor,
            config,
            process.max_queue(),
            process.metrics(),
            log,
        ),
        transformer,
        models,
    })
}

/// Every file the definition names is a regular file of the folder (`model_file` may also be
/// a folder: a TensorFlow SavedModel).
fn check_files(config: &DeploymentConfig, artifacts: &Artifacts) -> Result<(), DeployError> {
    let transformer = config.transformer.as_ref();
    for (field, file) in [
        ("component_file", config.component_file.as_ref()),
        ("script_file", config.script_file.as_ref()),
        ("model_file", config.model_file.as_ref()),
        ("config_file", config.config_file.as_ref()),
        (
            "transformer.component_file",
            transformer.and_then(|t| t.component_file.as_ref()),
        ),
        (
            "transformer.script_file",
            transformer.and_then(|t| t.script_file.as_ref()),
        ),
    ] {
        let model = field == "model_file";
        if let Some(f) = file.filter(|f| !(artifacts.is_file(f) || model && artifacts.is_dir(f))) {
            return Err(DeployError::Artifacts(format!(
                "{field}: {f:?} is not a file{} in {}",
                if model {
                    " (nor a SavedModel folder)"
                } else {
                    ""
                },
                artifacts.root().display()
            )));
        }
    }
    Ok(())
}
