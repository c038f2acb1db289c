//! Turns a deployment folder into a [`Deployment`]: read and validate the definition, open
//! the artifacts, then compile and link the component (or load the native graph) and warm
//! its first instance. Process-wide pieces (engine, linker, compile cache) live here once.

use super::artifacts::Artifacts;
use super::config::{ConfigError, DeploymentConfig, PredictorSource};
use super::log::{DEFAULT_LOG_LINES, DeploymentLog};
use super::{DEFINITION_FILE, Deployment, DeploymentStatus};
use crate::native::ModelError;
use crate::predictor::Predictor;
use crate::wasm::compile_cache::{CacheOutcome, CompileCache};
use crate::wasm::component::{self, ComponentPredictor, GuestError, LoadError};
use crate::wasm::engine::{EngineLimits, build_engine};
use crate::wasm::host::InstanceState;
use crate::wasm::pool::PoolConfig;
use crate::wasm::sandbox::{GUEST_ARTIFACT_DIR, SandboxSpec};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;
use wasmtime::component::Linker;

/// Largest component file accepted.
pub const MAX_COMPONENT_BYTES: u64 = 512 << 20;

/// Why a deployment folder cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error("{path}: {message}")]
    Definition { path: String, message: String },
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Artifacts(String),
    #[error("component {file}: {source}")]
    Component { file: String, source: LoadError },
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("{0}")]
    Guest(#[from] GuestError),
    #[error("{0}")]
    Unsupported(String),
}

/// The process-wide state deployments are built with.
pub struct Loader {
    linker: Linker<InstanceState>,
    cache: CompileCache,
}

/// What `predictor check` reports of a folder that would serve.
#[derive(Debug)]
pub struct CheckReport {
    pub config: DeploymentConfig,
    pub warnings: Vec<String>,
}

impl Loader {
    /// Builds the engine and linker; compiled components are cached under `cache_dir`.
    pub fn new(cache_dir: &Path, limits: &EngineLimits) -> anyhow::Result<Arc<Loader>> {
        let engine = build_engine(limits)?;
        let linker = component::linker(&engine)?;
        let cache = CompileCache::new(&engine, cache_dir)?;
        Ok(Arc::new(Loader { linker, cache }))
    }

    /// Reads and validates `deployment.json` in `dir`.
    pub fn read_definition(dir: &Path) -> Result<(DeploymentConfig, Vec<String>), DeployError> {
        let path = dir.join(DEFINITION_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| DeployError::Definition {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        let config = DeploymentConfig::parse(&text).map_err(|e| DeployError::Definition {
            path: path.display().to_string(),
            message: e.0,
        })?;
        let warnings = config.validate()?;
        Ok((config, warnings))
    }

    /// Starts the deployment in `dir`. An unreadable definition is an error (there is no name
    /// to file the failure under); any later failure gives a deployment in the Failed state,
    /// with the reason in its log.
    pub async fn start(self: &Arc<Self>, dir: &Path) -> Result<Deployment, DeployError> {
        let (config, warnings) = Self::read_definition(dir)?;
        let log = DeploymentLog::new(&config.name, DEFAULT_LOG_LINES);
        for w in &warnings {
            log.warn(w.clone());
        }
        let status = match self.start_predictor(&config, dir, &log).await {
            Ok(predictor) => DeploymentStatus::Running(predictor),
            Err(e) => {
                log.error(format!("failed to start: {e}"));
                DeploymentStatus::Failed(e.to_string())
            }
        };
        Ok(Deployment {
            config,
            dir: dir.to_path_buf(),
            log,
            status,
        })
    }

    /// Does everything [`Loader::start`] does and reports; errors instead of a Failed state.
    pub async fn check(self: &Arc<Self>, dir: &Path) -> Result<CheckReport, DeployError> {
        let (config, warnings) = Self::read_definition(dir)?;
        let log = DeploymentLog::new(&config.name, DEFAULT_LOG_LINES);
        self.start_predictor(&config, dir, &log).await?;
        Ok(CheckReport { config, warnings })
    }

    async fn start_predictor(
        self: &Arc<Self>,
        config: &DeploymentConfig,
        dir: &Path,
        log: &Arc<DeploymentLog>,
    ) -> Result<Predictor, DeployError> {
        let artifacts = Arc::new(
            Artifacts::open(dir)
                .map_err(|e| DeployError::Artifacts(format!("{}: {e}", dir.display())))?,
        );
        let source = config.source()?;
        for (field, file) in [
            ("component_file", config.component_file.as_ref()),
            ("script_file", config.script_file.as_ref()),
            ("model_file", config.model_file.as_ref()),
            ("config_file", config.config_file.as_ref()),
        ] {
            if let Some(f) = file.filter(|f| !artifacts.is_file(f)) {
                return Err(DeployError::Artifacts(format!(
                    "{field}: {f:?} is not a file in {}",
                    dir.display()
                )));
            }
        }
        let started = Instant::now();
        match source {
            PredictorSource::Model(file) => {
                let model = artifacts.model(&file).await?;
                log.info(format!(
                    "serving native model {file} ({} inputs, {} outputs), loaded in {} ms",
                    model.inputs().len(),
                    model.outputs().len(),
                    started.elapsed().as_millis()
                ));
                Ok(Predictor::Native(model))
            }
            PredictorSource::Script(file) => Err(DeployError::Unsupported(format!(
                "script_file {file:?}: Python predictor scripts are not served yet; deploy a component \
                 (component_file) or a model graph (model_file)"
            ))),
            PredictorSource::Component(file) => {
                let bytes = artifacts
                    .read(&file, MAX_COMPONENT_BYTES)
                    .map_err(|e| DeployError::Artifacts(format!("component_file {file:?}: {e}")))?;
                let loader = Arc::clone(self);
                let loaded = tokio::task::spawn_blocking(move || {
                    component::load(&loader.cache, &loader.linker, &bytes)
                })
                .await
                .map_err(|e| DeployError::Unsupported(format!("compiling panicked: {e}")))?
                .map_err(|source| DeployError::Component {
                    file: file.clone(),
                    source,
                })?;
                let how = match loaded.cache {
                    CacheOutcome::Hit => "loaded from the compile cache",
                    CacheOutcome::Compiled => "compiled",
                };
                log.info(format!(
                    "component {file} (sha256 {}) {how} in {} ms",
                    &loaded.digest[..12],
                    started.elapsed().as_millis()
                ));
                let sandbox = SandboxSpec {
                    artifact_root: artifacts.root().to_path_buf(),
                    env: guest_env(config),
                    log: Arc::clone(log),
                };
                let pool = PoolConfig {
                    max_instances: config.max_instances() as usize,
                    memory_limit_bytes: (config.resources.limits.memory as usize) << 20,
                };
                let warm = config.scaling_configuration.min_instances.max(1) as usize;
                let predictor =
                    ComponentPredictor::start(loaded, sandbox, artifacts, pool, warm).await?;
                log.info(format!(
                    "running: {warm} warm instance(s), up to {} at once, {} MiB memory each",
                    config.max_instances(),
                    config.resources.limits.memory
                ));
                Ok(Predictor::Component(Box::new(predictor)))
            }
        }
    }
}

/// The environment a guest sees: Hopsworks' variables, then the deployment's `env_vars`.
pub fn guest_env(config: &DeploymentConfig) -> Vec<(String, String)> {
    let mut env = vec![
        (
            "ARTIFACT_FILES_PATH".to_string(),
            GUEST_ARTIFACT_DIR.to_string(),
        ),
        ("DEPLOYMENT_NAME".to_string(), config.name.clone()),
        ("MODEL_NAME".to_string(), config.model_name().to_string()),
        (
            "MODEL_VERSION".to_string(),
            config.model_version.to_string(),
        ),
        (
            "ARTIFACT_VERSION".to_string(),
            config.artifact_version.to_string(),
        ),
    ];
    if let Some(file) = &config.config_file {
        env.push((
            "CONFIG_FILE_PATH".to_string(),
            format!("{GUEST_ARTIFACT_DIR}/{file}"),
        ));
    }
    env.extend(config.env_vars.iter().map(|(k, v)| (k.clone(), v.clone())));
    env
}
