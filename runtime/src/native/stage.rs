//! A deployment's native graph as a stage that can scale to zero. The graph has no instances,
//! but its plan (weights and optimized operators) is what holds its memory: with
//! `min_instances` 0, a graph without a request for the retention period is unloaded, and the
//! next request loads it again from the deployment's artifact folder (a cold start, timed on
//! `predictor_cold_start_seconds`). Requests arriving meanwhile share that one load. The
//! signature stays known at zero, so metadata, readiness and request decoding never load it.
//! A SavedModel's other signatures' graphs belong to its served graph: they unload and load
//! with it (one cold start), and share its run slots. A TF Serving folder's other versions
//! ([`super::versions`]) load on their first request (a cold start each), share the gate and
//! memory budget, and unload with the served graph.

use super::gate::Gate;
use super::models::ModelCache;
use super::versions::{VersionSpec, Versions};
use super::{ModelError, NativeModel};
use crate::metrics::StageMetrics;
use crate::tensor::signature::Signatures;
use crate::tensor::{Tensor, TensorSpec};
use parking_lot::Mutex;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub struct GraphStage {
    /// The model file, relative to the artifact folder.
    file: String,
    models: Arc<ModelCache>,
    inputs: Vec<TensorSpec>,
    outputs: Vec<TensorSpec>,
    signatures: Arc<Signatures>,
    platform: &'static str,
    /// `None` while at zero.
    loaded: Mutex<Option<Arc<NativeModel>>>,
    gate: Arc<Gate>,
    /// Idle time before unloading; `None` keeps the graph loaded (`min_instances` ≥ 1).
    retention: Option<Duration>,
    /// Runs started and not finished.
    running: AtomicU64,
    /// When the last run started or ended, in ms since `born`.
    last_seen_ms: AtomicU64,
    born: Instant,
    metrics: StageMetrics,
    /// The versions of its TF Serving folder, when it serves one.
    versions: Option<Versions>,
}

impl GraphStage {
    /// The stage of a loaded graph (`model` came from `models` at `file`).
    pub fn new(
        file: String,
        models: Arc<ModelCache>,
        model: Arc<NativeModel>,
        gate: Gate,
        retention: Option<Duration>,
        metrics: StageMetrics,
    ) -> GraphStage {
        let gate = Arc::new(gate);
        set_gate(&model, &gate);
        metrics.instances.set(1);
        GraphStage {
            file,
            inputs: model.inputs().cloned().collect(),
            outputs: model.outputs().to_vec(),
            signatures: Arc::clone(model.signatures()),
            platform: model.platform(),
            models,
            loaded: Mutex::new(Some(model)),
            gate,
            retention,
            running: AtomicU64::new(0),
            last_seen_ms: AtomicU64::new(0),
            born: Instant::now(),
            metrics,
            versions: None,
        }
    }

    /// The stage, serving the other `versions` of its TF Serving folder by `/versions/N`.
    pub fn with_versions(mut self, versions: Versions) -> GraphStage {
        self.versions = Some(versions);
        self
    }

    /// The versions of its TF Serving folder, when it serves one.
    pub fn versions(&self) -> Option<&Versions> {
        self.versions.as_ref()
    }

    /// The graph's inputs.
    pub fn inputs(&self) -> &[TensorSpec] {
        &self.inputs
    }

    /// The graph's outputs.
    pub fn outputs(&self) -> &[TensorSpec] {
        &self.outputs
    }

    /// Its signature map (TF Serving's metadata).
    pub fn signatures(&self) -> &Arc<Signatures> {
        &self.signatures
    }

    /// V2 `platform` of its model file.
    pub fn platform(&self) -> &'static str {
        self.platform
    }

    /// Its series (cold starts, queue refusals).
    pub fn metrics(&self) -> &StageMetrics {
        &self.metrics
    }

    /// How many runs go at once.
    pub fn slots(&self) -> usize {
        self.gate.slots()
    }

    /// Whether the graph (and every other version) is unloaded.
    pub fn is_at_zero(&self) -> bool {
        self.loaded.lock().is_none() && !self.versions.as_ref().is_some_and(Versions::any_loaded)
    }

    /// Runs the graph of `signature` (the served one when `None`; another one the codec
    /// resolved) of `version` (the served one when `None`), loading the graphs first if they
    /// are at zero.
    pub async fn run(
        &self,
        version: Option<u64>,
        signature: Option<&str>,
        inputs: Vec<Tensor>,
    ) -> Result<Vec<Tensor>, ModelError> {
        let _running = Running::start(self);
        let model = match self.other_version(version) {
            Some((versions, v)) => self.version_model(versions, v).await?,
            None => self.model().await?,
        };
        match signature {
            None => model.run_async(inputs).await,
            Some(name) => match model.signature_graph(name) {
                Some(graph) => graph.run_async(inputs).await,
                None => Err(ModelError::Input(format!(
                    "Serving signature name: {name:?} has no graph of its own"
                ))),
            },
        }
    }

    /// The loaded graph, or the one this call (or a concurrent one) loads now.
    async fn model(&self) -> Result<Arc<NativeModel>, ModelError> {
        if let Some(model) = self.loaded.lock().clone() {
            return Ok(model);
        }
        let started = Instant::now();
        // The artifact folder's model cache loads once for every caller waiting here.
        let model = self.models.model(&self.file).await?;
        let mut loaded = self.loaded.lock();
        if loaded.is_none() {
            set_gate(&model, &self.gate);
            *loaded = Some(Arc::clone(&model));
            self.metrics
                .cold_starts
                .observe(started.elapsed().as_secs_f64());
            self.metrics.instances.set(1);
        }
        Ok(model)
    }

    /// The folder's versions and `version`, when it names one other than the served one.
    fn other_version(&self, version: Option<u64>) -> Option<(&Versions, u64)> {
        let versions = self.versions.as_ref()?;
        version
            .filter(|&v| v != versions.served())
            .map(|v| (versions, v))
    }

    /// What `version` of the folder takes and gives (the served one's when it is not another
    /// version), loading it first if it never has.
    pub async fn version_spec(&self, version: u64) -> Result<Arc<VersionSpec>, ModelError> {
        let Some((versions, v)) = self.other_version(Some(version)) else {
            return Ok(Arc::new(VersionSpec {
                version,
                inputs: self.inputs.clone(),
                outputs: self.outputs.clone(),
                signatures: Arc::clone(&self.signatures),
            }));
        };
        if let Some(spec) = versions.spec(v) {
            return Ok(spec);
        }
        let _running = Running::start(self);
        self.version_model(versions, v).await?;
        Ok(versions
            .spec(v)
            .expect("a loaded version keeps what it takes and gives"))
    }

    /// Another version's loaded graph, or the one this call (or a concurrent one) loads now,
    /// refused when the deployment's memory budget cannot hold it besides the others.
    async fn version_model(
        &self,
        versions: &Versions,
        version: u64,
    ) -> Result<Arc<NativeModel>, ModelError> {
        if let Some(model) = versions.loaded(version) {
            return Ok(model);
        }
        let path = versions.path(version).ok_or_else(|| {
            ModelError::Input(format!(
                "there is no version {version}; the versions are {}",
                versions.listed()
            ))
        })?;
        let started = Instant::now();
        let model = self.models.model(path).await?;
        // Gated before it is kept, so no run of it escapes the gate.
        let admit = |model: &NativeModel| {
            if let Some(budget) = self.gate.memory() {
                budget.admit_more(model.resident_bytes())?;
            }
            set_gate(model, &self.gate);
            Ok(())
        };
        let (model, loaded_now) = versions.keep(version, model, admit).map_err(|message| {
            self.models.forget(path);
            self.metrics.memory.inc();
            ModelError::OverLimit {
                source_name: path.to_string(),
                message,
            }
        })?;
        if loaded_now {
            self.metrics
                .cold_starts
                .observe(started.elapsed().as_secs_f64());
            self.metrics.instances.set(1);
        }
        Ok(model)
    }

    /// Unloads the graph if it has been idle for the retention period; `true` if it did.
    /// Runs in flight keep their graph until they finish.
    pub fn scale_to_zero_if_idle(&self, now: Instant) -> bool {
        let Some(retention) = self.retention else {
            return false;
        };
        if self.running.load(Ordering::Acquire) > 0 {
            return false;
        }
        let last = self.born + Duration::from_millis(self.last_seen_ms.load(Ordering::Relaxed));
        if now.saturating_duration_since(last) < retention {
            return false;
        }
        self.scale_to_zero()
    }

    /// Unloads the graph and the other versions now (runs in flight keep theirs); `true` if
    /// any was loaded.
    pub fn scale_to_zero(&self) -> bool {
        let model = self.loaded.lock().take();
        let others = self
            .versions
            .as_ref()
            .map(Versions::unload_all)
            .unwrap_or_default();
        if model.is_none() && others.is_empty() {
            return false;
        }
        if model.is_some() {
            self.models.forget(&self.file);
        }
        for (path, resident) in others {
            self.models.forget(&path);
            if let Some(budget) = self.gate.memory() {
                budget.release(resident);
            }
        }
        self.metrics.instances.set(0);
        self.metrics.instances_stopped.inc();
        drop(model);
        true
    }

    fn touch(&self) {
        let ms = self.born.elapsed().as_millis() as u64;
        self.last_seen_ms.fetch_max(ms, Ordering::Relaxed);
    }
}

/// Bounds the runs of `model` and of its other signatures' graphs by the stage's gate.
fn set_gate(model: &NativeModel, gate: &Arc<Gate>) {
    model.set_gate(Arc::clone(gate));
    for graph in model.signature_graphs() {
        graph.set_gate(Arc::clone(gate));
    }
}

/// A run in flight, counted until it ends (or its request is dropped).
struct Running<'s>(&'s GraphStage);

impl<'s> Running<'s> {
    fn start(stage: &'s GraphStage) -> Running<'s> {
        stage.running.fetch_add(1, Ordering::AcqRel);
        stage.touch();
        Running(stage)
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.touch();
        self.0.running.fetch_sub(1, Ordering::AcqRel);
    }
}
