//! The sub-objects of a `deployment.json`, as Hopsworks names them: `resources`,
//! `inference_batcher`, `inference_logger`, `scaling_configuration` and `transformer`, with
//! their defaults. Validation of their values lives with the whole definition (`super`).

use super::{ConfigError, PredictorSource, one};
use serde::{Deserialize, Serialize};

/// Hopsworks `Resources`: cores and memory (MB) as `requests` and `limits`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    #[serde(default = "Resource::default_requests")]
    pub requests: Resource,
    #[serde(default = "Resource::default_limits")]
    pub limits: Resource,
}

impl Default for Resources {
    fn default() -> Self {
        Resources {
            requests: Resource::default_requests(),
            limits: Resource::default_limits(),
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Resource {
    pub cores: f64,
    /// Megabytes.
    pub memory: u64,
    #[serde(default)]
    pub gpus: u32,
}

impl Resource {
    /// `memory` in bytes, saturating (validation keeps it within
    /// [`super::ranges::MAX_MEMORY_MB`], where the shift is exact).
    pub fn memory_bytes(&self) -> usize {
        usize::try_from(self.memory)
            .ok()
            .and_then(|mb| mb.checked_mul(1 << 20))
            .unwrap_or(usize::MAX)
    }

    fn default_requests() -> Resource {
        Resource {
            cores: 0.2,
            memory: 32,
            gpus: 0,
        }
    }
    fn default_limits() -> Resource {
        Resource {
            cores: 2.0,
            memory: 1024,
            gpus: 0,
        }
    }
}

/// Hopsworks `InferenceBatcher` (latency and timeout in milliseconds).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct InferenceBatcher {
    #[serde(default)]
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_batch_size: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_latency: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
}

/// Hopsworks `InferenceLogger`, with what KServe's logger lacks: the record schema and
/// encoding, a sampling rate, and request headers kept as Kafka message headers.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct InferenceLogger {
    #[serde(default = "LoggerMode::default_mode")]
    pub mode: LoggerMode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kafka_topic: Option<KafkaTopic>,
    /// Which of the seed's `inferencelog` schemas the records follow.
    #[serde(default)]
    pub schema: LogSchema,
    /// Avro binary (one schemaless datum per message, as Hopsworks users decode) or JSON.
    #[serde(default)]
    pub format: LogFormat,
    /// The share of requests logged, in (0, 1].
    #[serde(default = "default_sampling_rate")]
    pub sampling_rate: f64,
    /// Request headers kept with each record (as Kafka message headers).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<String>,
}

fn default_sampling_rate() -> f64 {
    1.0
}

/// The record schema: KServe's (a request and a response record per inference) or
/// Docker/Kubernetes' (one record with both).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum LogSchema {
    #[default]
    Kserve,
    Docker,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum LogFormat {
    #[default]
    Avro,
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LoggerMode {
    None,
    All,
    ModelInputs,
    Predictions,
}

impl LoggerMode {
    fn default_mode() -> LoggerMode {
        LoggerMode::All
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaTopic {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_of_partitions: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_of_replicas: Option<u32>,
}

/// Hopsworks `PredictorScalingConfig` (Knative's autoscaler fields and defaults).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ScalingConfiguration {
    #[serde(default = "one")]
    pub min_instances: u32,
    /// Defaults to the ceiling of `resources.limits.cores`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_instances: Option<u32>,
    #[serde(default = "ScaleMetric::default_metric")]
    pub scale_metric: ScaleMetric,
    #[serde(default = "default_target")]
    pub target: u32,
    #[serde(default = "default_panic_window")]
    pub panic_window_percentage: f64,
    #[serde(default = "default_panic_threshold")]
    pub panic_threshold_percentage: f64,
    #[serde(default = "default_stable_window")]
    pub stable_window_seconds: u32,
    #[serde(default)]
    pub scale_to_zero_retention_seconds: u32,
}

impl Default for ScalingConfiguration {
    fn default() -> Self {
        ScalingConfiguration {
            min_instances: 1,
            max_instances: None,
            scale_metric: ScaleMetric::Concurrency,
            target: default_target(),
            panic_window_percentage: default_panic_window(),
            panic_threshold_percentage: default_panic_threshold(),
            stable_window_seconds: default_stable_window(),
            scale_to_zero_retention_seconds: 0,
        }
    }
}

fn default_target() -> u32 {
    100
}
fn default_panic_window() -> f64 {
    10.0
}
fn default_panic_threshold() -> f64 {
    200.0
}
fn default_stable_window() -> u32 {
    60
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ScaleMetric {
    Concurrency,
    Rps,
}

impl ScaleMetric {
    fn default_metric() -> ScaleMetric {
        ScaleMetric::Concurrency
    }
}

/// A transformer in front of the predictor (Hopsworks `Transformer`): a Python script with
/// `class Transformer`, or a component of the `transformer` world, with its own resources
/// and instances.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TransformerConfig {
    /// A Python `Transformer` script in the deployment folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script_file: Option<String>,
    /// A transformer component (`.wasm`) in the deployment folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component_file: Option<String>,
    #[serde(default)]
    pub resources: Resources,
    #[serde(default)]
    pub scaling_configuration: ScalingConfiguration,
    /// Batching of the transformer's stages (KServe lets each component batch): V1 bodies
    /// of `instances` merged into one `preprocess` call, `predictions` into one
    /// `postprocess` call, each caller given its own rows back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inference_batcher: Option<InferenceBatcher>,
}

impl TransformerConfig {
    /// Which file transforms: `Script` or `Component` (never `Model`).
    pub fn source(&self) -> Result<PredictorSource, ConfigError> {
        match (&self.component_file, &self.script_file) {
            (Some(c), None) => Ok(PredictorSource::Component(c.clone())),
            (None, Some(s)) => Ok(PredictorSource::Script(s.clone())),
            (None, None) => Err(ConfigError(
                "transformer: one of component_file or script_file is required".into(),
            )),
            (Some(_), Some(_)) => Err(ConfigError(
                "transformer: component_file and script_file are exclusive: give one".into(),
            )),
        }
    }

    /// Transformer instances that may run at once.
    pub fn max_instances(&self) -> u32 {
        self.scaling_configuration
            .max_instances
            .unwrap_or_else(|| (self.resources.limits.cores.ceil() as u32).max(1))
    }
}
