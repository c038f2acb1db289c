//! The process-wide state every deployment is assembled with ([`ProcessState`]): the
//! wasmtime engine and linker, the compile cache, the componentizer, the node's capacity,
//! the metrics registry and the inference log writer, plus the server-wide bounds each
//! stage gets (call deadline, queue, output size). Built once at start; deployments hold
//! what they need of it. What a stage is assembled from lives with the stage
//! (`predictor::assemble`, `transformer::assemble`); compiling and componentizing lives in
//! [`components`].

pub mod components;
mod deploy_error;

pub use deploy_error::DeployError;

use crate::capacity::{Capacity, NodeCapacity};
use crate::definition::{DeploymentConfig, Resources, ScalingConfiguration};
use crate::deployment_log::DeploymentLog;
use crate::inference_log::sink::{SinkConfig, Writer};
use crate::metrics::Metrics;
use crate::python::Componentizer;
use crate::scaling::ScalingPolicy;
use crate::wasm::compile_cache::CompileCache;
use crate::wasm::component;
use crate::wasm::engine::{EngineLimits, build_engine};
use crate::wasm::host::InstanceState;
use crate::wasm::pool::PoolConfig;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use wasmtime::component::Linker;

/// What lives as long as the process.
pub struct ProcessState {
    /// How long one guest call may run (every pool's deadline).
    call_deadline: Duration,
    /// Requests a stage lets wait for a busy instance.
    max_queue: usize,
    /// Largest answer a guest may hand the host.
    max_output_bytes: usize,
    capacity: Capacity,
    metrics: Arc<Metrics>,
    data_dir: PathBuf,
    inference_log: OnceLock<Arc<Writer>>,
    linker: Linker<InstanceState>,
    cache: CompileCache,
    componentizer: Componentizer,
}

impl ProcessState {
    /// Builds the engine and linker. Compiled components are cached under
    /// `data_dir/compiled`, componentized scripts under `data_dir/python`; `componentize_py`
    /// overrides where componentize-py is looked for; `node` is what deployments may
    /// reserve.
    pub fn new(
        data_dir: &Path,
        limits: &EngineLimits,
        componentize_py: Option<PathBuf>,
        node: NodeCapacity,
    ) -> anyhow::Result<Arc<ProcessState>> {
        let engine = build_engine(limits)?;
        let linker = component::linker(&engine)?;
        let cache = CompileCache::new(&engine, &data_dir.join("compiled"))?;
        let componentizer = Componentizer::new(componentize_py, &data_dir.join("python"));
        Ok(Arc::new(ProcessState {
            call_deadline: limits.call_deadline,
            max_queue: limits.max_queue,
            max_output_bytes: limits.max_output_bytes,
            capacity: Capacity::new(node),
            metrics: Arc::new(Metrics::default()),
            data_dir: data_dir.to_path_buf(),
            inference_log: OnceLock::new(),
            linker,
            cache,
            componentizer,
        }))
    }

    /// The series every stage reports to.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The node's capacity and the reservations held against it.
    pub fn capacity(&self) -> &Capacity {
        &self.capacity
    }

    /// Componentizes Python scripts (`predictor build`, and `script_file` deployments).
    pub fn componentizer(&self) -> &Componentizer {
        &self.componentizer
    }

    /// How long one call into a component, or one run of a graph, may take.
    pub fn call_deadline(&self) -> Duration {
        self.call_deadline
    }

    /// Requests a stage (or its batcher, or a graph's gate) lets wait.
    pub fn max_queue(&self) -> usize {
        self.max_queue
    }

    /// A stage's pool: its scaling and memory limit, the server's deadline, queue and
    /// output bound.
    pub fn pool_config(
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

    /// The deployment's inference logger, when it logs (`inference_logger` with a mode
    /// other than NONE); its Kafka topic is created in the background (an unreachable
    /// broker is reported, not fatal: records wait).
    pub fn inference_logger(
        &self,
        config: &DeploymentConfig,
        log: &Arc<DeploymentLog>,
    ) -> Option<crate::inference_log::InferenceLogger> {
        let l = config.inference_logger.as_ref()?;
        if l.mode == crate::definition::LoggerMode::None {
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
}
