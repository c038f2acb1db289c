//! Turns a deployment folder into a [`Deployment`]: read and validate the definition, open
//! the artifacts, then build (a Python script), compile and link the component (or load the
//! native graph) and warm its first instance; the same for a transformer in front of it.
//! Process-wide pieces (engine, linker, compile cache, componentizer) live here once.

use super::{DEFINITION_FILE, Deployment, DeploymentStatus, Serving};
use crate::artifacts::Artifacts;
use crate::capacity::{Capacity, NodeCapacity, Reservation};
use crate::definition::{
    ConfigError, DeploymentConfig, LoggerMode, PredictorSource, Resources, ScalingConfiguration,
};
use crate::deployment_log::{DEFAULT_LOG_LINES, DeploymentLog};
use crate::inference_log::DeploymentLogger;
use crate::inference_log::sink::{SinkConfig, Writer};
use crate::metrics::Metrics;
use crate::native::ModelError;
use crate::native::gate::Gate;
use crate::native::models::ModelCache;
use crate::native::stage::GraphStage;
use crate::predictor::{Predictor, PredictorStage};
use crate::python::{BuildError, Componentizer};
use crate::role::Role;
use crate::scaling::ScalingPolicy;
use crate::transformer::TransformerStage;
use crate::wasm;
use crate::wasm::compile_cache::{CacheOutcome, CompileCache};
use crate::wasm::component::{self, ComponentPredictor, GuestError, LoadError, LoadedComponent};
use crate::wasm::engine::{EngineLimits, build_engine};
use crate::wasm::host::InstanceState;
use crate::wasm::pool::{PoolConfig, Reload};
use crate::wasm::sandbox::{GUEST_ARTIFACT_DIR, SandboxSpec};
use crate::wasm::transformer::ComponentTransformer;
use crate::wasm::world::GuestWorld;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::component::Linker;

/// Largest component file accepted.
pub const MAX_COMPONENT_BYTES: u64 = 512 << 20;
/// Largest Python script accepted.
pub const MAX_SCRIPT_BYTES: u64 = 4 << 20;

/// Why a deployment folder cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error("{path}: {message}")]
    Definition { path: String, message: String },
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Artifacts(String),
    #[error("{field} {file:?}: {source}")]
    Component {
        field: String,
        file: String,
        source: LoadError,
    },
    #[error("{field} {file:?}: {source}")]
    Script {
        field: String,
        file: String,
        source: BuildError,
    },
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("the predictor {0}")]
    Guest(#[from] GuestError),
    #[error("the transformer {0}")]
    Transformer(GuestError),
    #[error("{0}")]
    Unsupported(String),
    #[error(transparent)]
    Capacity(#[from] crate::capacity::CapacityError),
}

/// The process-wide state deployments are built with.
pub struct Loader {
    /// How long one guest call may run (every pool's deadline).
    call_deadline: Duration,
    /// Requests a stage lets wait for a busy instance.
    max_queue: usize,
    /// Largest answer a guest may hand the host.
    max_output_bytes: usize,
    capacity: Capacity,
    metrics: Arc<Metrics>,
    data_dir: PathBuf,
    inference_log: std::sync::OnceLock<Arc<Writer>>,
    linker: Linker<InstanceState>,
    cache: CompileCache,
    componentizer: Componentizer,
}

/// What `predictor check` reports of a folder that would serve.
#[derive(Debug)]
pub struct CheckReport {
    pub config: DeploymentConfig,
    pub warnings: Vec<String>,
}

impl Loader {
    /// Builds the engine and linker. Compiled components are cached under
    /// `data_dir/compiled`, componentized scripts under `data_dir/python`; `componentize_py`
    /// overrides where componentize-py is looked for; `node` is what deployments may
    /// reserve.
    pub fn new(
        data_dir: &Path,
        limits: &EngineLimits,
        componentize_py: Option<PathBuf>,
        node: NodeCapacity,
    ) -> anyhow::Result<Arc<Loader>> {
        let engine = build_engine(limits)?;
        let linker = component::linker(&engine)?;
        let cache = CompileCache::new(&engine, &data_dir.join("compiled"))?;
        let componentizer = Componentizer::new(componentize_py, &data_dir.join("python"));
        Ok(Arc::new(Loader {
            call_deadline: limits.call_deadline,
            max_queue: limits.max_queue,
            max_output_bytes: limits.max_output_bytes,
            capacity: Capacity::new(node),
            metrics: Arc::new(Metrics::default()),
            data_dir: data_dir.to_path_buf(),
            inference_log: std::sync::OnceLock::new(),
            linker,
            cache,
            componentizer,
        }))
    }

    /// A component compiled before (by its sha256), loaded from the compile cache and
    /// linked as world `G`, with no hashing or compiling: how a stage restarts from zero.
    pub fn load_cached<G: GuestWorld>(&self, digest: &str) -> Option<LoadedComponent<G>> {
        let component = self.cache.load_digest(digest)?;
        let pre = G::pre(self.linker.instantiate_pre(&component).ok()?).ok()?;
        Some(LoadedComponent {
            pre,
            digest: digest.to_string(),
            cache: CacheOutcome::Hit,
        })
    }

    /// The series every stage this loader starts reports to.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The node's capacity and the reservations held against it.
    pub fn capacity(&self) -> &Capacity {
        &self.capacity
    }

    /// How a stage at zero reloads component `digest`, linked as world `G`.
    fn reload<G: GuestWorld>(self: &Arc<Self>, digest: &str) -> Reload<G> {
        let (loader, digest) = (Arc::clone(self), digest.to_string());
        Arc::new(move || loader.load_cached::<G>(&digest).map(|l| l.pre))
    }

    /// Componentizes Python scripts (`predictor build`, and `script_file` deployments).
    pub fn componentizer(&self) -> &Componentizer {
        &self.componentizer
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
        self.metrics.forget(&config.name);
        let started = match self
            .capacity
            .reserve(&config.name, Reservation::of(&config))
        {
            Ok(()) => self.start_predictor(&config, dir, &log).await,
            Err(e) => Err(e.into()),
        };
        let status = match started {
            Ok(serving) => DeploymentStatus::Running(serving),
            Err(e) => {
                if !matches!(e, DeployError::Capacity(_)) {
                    self.capacity.release(&config.name);
                }
                log.error(format!("failed to start: {e}"));
                DeploymentStatus::Failed(e.to_string())
            }
        };
        let inference_log = match &status {
            DeploymentStatus::Running(_) => self.inference_logger(&config, &log),
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

    /// Sends inference logs to `writer` (Kafka) instead of the default files under the data
    /// dir; call before starting deployments.
    pub fn set_inference_log(&self, writer: Arc<Writer>) -> Result<(), Arc<Writer>> {
        self.inference_log.set(writer)
    }

    /// The inference log writer, if one was set or started.
    pub fn started_inference_log(&self) -> Option<&Arc<Writer>> {
        self.inference_log.get()
    }

    /// The inference log writer: the one set, else JSON-lines files under the data dir.
    pub fn inference_log(&self) -> anyhow::Result<&Arc<Writer>> {
        if let Some(w) = self.inference_log.get() {
            return Ok(w);
        }
        let writer = Writer::start(SinkConfig::Files(self.data_dir.join("inference-log")))?;
        Ok(self.inference_log.get_or_init(|| writer))
    }

    /// The deployment's inference logger, when it logs; creates its Kafka topic in the
    /// background (an unreachable broker is reported, not fatal: records wait).
    fn inference_logger(
        &self,
        config: &DeploymentConfig,
        log: &Arc<DeploymentLog>,
    ) -> Option<DeploymentLogger> {
        let l = config.inference_logger.as_ref()?;
        if l.mode == LoggerMode::None {
            return None;
        }
        let writer = match self.inference_log() {
            Ok(w) => Arc::clone(w),
            Err(e) => {
                log.error(format!(
                    "inference log disabled: cannot start its writer: {e:#}"
                ));
                return None;
            }
        };
        crate::inference_log::for_deployment(
            writer,
            config,
            log,
            self.metrics.inference_log(&config.name),
        )
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
    ) -> Result<Serving, DeployError> {
        let artifacts = Arc::new(
            Artifacts::open(dir)
                .map_err(|e| DeployError::Artifacts(format!("{}: {e}", dir.display())))?,
        );
        let models = Arc::new(ModelCache::new(Arc::clone(&artifacts)));
        let source = config.source()?;
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
            if let Some(f) = file.filter(|f| !artifacts.is_file(f)) {
                return Err(DeployError::Artifacts(format!(
                    "{field}: {f:?} is not a file in {}",
                    dir.display()
                )));
            }
        }
        let started = Instant::now();
        let predictor = match source {
            PredictorSource::Model(file) => {
                let model = models.model(&file).await?;
                log.info(format!(
                    "serving native model {file} ({} inputs, {} outputs), loaded in {} ms",
                    model.inputs().len(),
                    model.outputs().len(),
                    started.elapsed().as_millis()
                ));
                let metrics = self.metrics.stage(&config.name, Role::Predictor);
                let gate = Gate::for_cores(
                    config.resources.limits.cores,
                    self.max_queue,
                    metrics.clone(),
                );
                let scaling = &config.scaling_configuration;
                let retention =
                    (scaling.min_instances == 0).then(|| ScalingPolicy::new(scaling, 1).retention);
                if let Some(r) = retention {
                    log.info(format!(
                        "min_instances 0: the graph is unloaded after {} s without a request",
                        r.as_secs()
                    ));
                }
                Predictor::Native(Box::new(GraphStage::new(
                    file,
                    Arc::clone(&models),
                    model,
                    gate,
                    retention,
                    metrics,
                )))
            }
            source => {
                let loaded = self
                    .load_component::<wasm::bindings::Predictor>(
                        &artifacts,
                        &source,
                        Role::Predictor,
                        log,
                    )
                    .await?;
                let pool = self.pool_config(
                    &config.resources,
                    &config.scaling_configuration,
                    config.max_instances(),
                );
                log.info(scaling_summary("", &pool, config.resources.limits.memory));
                let reload = self.reload::<wasm::bindings::Predictor>(&loaded.digest);
                let predictor = ComponentPredictor::start(
                    loaded,
                    Some(reload),
                    self.sandbox(config, &artifacts, log, Role::Predictor),
                    Arc::clone(&models),
                    pool,
                    self.metrics.stage(&config.name, Role::Predictor),
                )
                .await?;
                Predictor::Component(Box::new(predictor))
            }
        };
        let transformer = match transformer {
            None => None,
            Some(t) => {
                let loaded = self
                    .load_component::<wasm::bindings::Transformer>(
                        &artifacts,
                        &t.source()?,
                        Role::Transformer,
                        log,
                    )
                    .await?;
                let pool =
                    self.pool_config(&t.resources, &t.scaling_configuration, t.max_instances());
                log.info(scaling_summary(
                    "transformer ",
                    &pool,
                    t.resources.limits.memory,
                ));
                let reload = self.reload::<wasm::bindings::Transformer>(&loaded.digest);
                let transformer = ComponentTransformer::start(
                    loaded,
                    Some(reload),
                    self.sandbox(config, &artifacts, log, Role::Transformer),
                    Arc::clone(&models),
                    pool,
                    self.metrics.stage(&config.name, Role::Transformer),
                )
                .await
                .map_err(DeployError::Transformer)?;
                Some(TransformerStage::new(
                    transformer,
                    config,
                    self.max_queue,
                    &self.metrics,
                    log,
                ))
            }
        };
        Ok(Serving {
            predictor: PredictorStage::new(predictor, config, self.max_queue, &self.metrics, log),
            transformer,
            models,
        })
    }

    /// A stage's pool: its scaling and memory limit, the server's deadline, queue and
    /// output bound.
    fn pool_config(
        &self,
        resources: &Resources,
        scaling: &ScalingConfiguration,
        max_instances: u32,
    ) -> PoolConfig {
        PoolConfig {
            memory_limit_bytes: resources.limits.memory_bytes(),
            call_deadline: self.call_deadline,
            max_queue: self.max_queue,
            max_output_bytes: self.max_output_bytes,
            scaling: ScalingPolicy::new(scaling, max_instances),
        }
    }

    fn sandbox(
        &self,
        config: &DeploymentConfig,
        artifacts: &Artifacts,
        log: &Arc<DeploymentLog>,
        component: Role,
    ) -> SandboxSpec {
        SandboxSpec {
            artifact_root: artifacts.root().to_path_buf(),
            env: guest_env(config),
            log: log.stage(component),
        }
    }

    /// The component of a stage, from its `component_file`, or componentized from its
    /// `script_file`; compiled (or loaded from the compile cache) and linked as world `G`.
    async fn load_component<G: GuestWorld>(
        self: &Arc<Self>,
        artifacts: &Artifacts,
        source: &PredictorSource,
        kind: Role,
        log: &Arc<DeploymentLog>,
    ) -> Result<LoadedComponent<G>, DeployError> {
        let prefix = match kind {
            Role::Predictor => "",
            Role::Transformer => "transformer.",
        };
        let started = Instant::now();
        let (field, file, bytes) = match source {
            PredictorSource::Component(file) => {
                let bytes = artifacts.read(file, MAX_COMPONENT_BYTES).map_err(|e| {
                    DeployError::Artifacts(format!("{prefix}component_file {file:?}: {e}"))
                })?;
                ("component_file", file, bytes)
            }
            PredictorSource::Script(file) => {
                let source = artifacts.read(file, MAX_SCRIPT_BYTES).map_err(|e| {
                    DeployError::Artifacts(format!("{prefix}script_file {file:?}: {e}"))
                })?;
                let source = String::from_utf8(source).map_err(|_| {
                    DeployError::Artifacts(format!("{prefix}script_file {file:?}: not UTF-8 text"))
                })?;
                let loader = Arc::clone(self);
                let name = file.clone();
                let built = tokio::task::spawn_blocking(move || {
                    loader.componentizer.build(kind, &name, &source)
                })
                .await
                .map_err(|e| DeployError::Unsupported(format!("componentizing panicked: {e}")))?
                .map_err(|source| DeployError::Script {
                    field: format!("{prefix}script_file"),
                    file: file.clone(),
                    source,
                })?;
                log.info(format!(
                    "script {file} {} in {} ms ({} bytes)",
                    if built.cached {
                        "found in the build cache"
                    } else {
                        "componentized"
                    },
                    built.elapsed.as_millis(),
                    built.bytes.len()
                ));
                ("script_file", file, built.bytes)
            }
            PredictorSource::Model(_) => unreachable!("a model is not a component"),
        };
        let loader = Arc::clone(self);
        let compile_started = Instant::now();
        let loaded = tokio::task::spawn_blocking(move || {
            component::load::<G>(&loader.cache, &loader.linker, &bytes)
        })
        .await
        .map_err(|e| DeployError::Unsupported(format!("compiling panicked: {e}")))?
        .map_err(|source| DeployError::Component {
            field: format!("{prefix}{field}"),
            file: file.clone(),
            source,
        })?;
        let how = match loaded.cache {
            CacheOutcome::Hit => "loaded from the compile cache",
            CacheOutcome::Compiled => "compiled",
        };
        log.info(format!(
            "{} component of {file} (sha256 {}) {how} in {} ms ({} ms in all)",
            G::WORLD,
            &loaded.digest[..12],
            compile_started.elapsed().as_millis(),
            started.elapsed().as_millis()
        ));
        Ok(loaded)
    }
}

/// One log line on how a stage scales.
fn scaling_summary(stage: &str, pool: &PoolConfig, memory_mb: u64) -> String {
    let s = &pool.scaling;
    let floor = match s.min_instances {
        0 => format!(
            "scales to zero after {} s without requests",
            s.retention.as_secs()
        ),
        n => format!("keeps {n} warm"),
    };
    format!(
        "{stage}instances: {floor}, up to {} at once ({:?} target {} per instance, stable window {} s), {memory_mb} MiB memory each",
        s.max_instances,
        s.metric,
        s.target,
        s.stable_window.as_secs()
    )
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
