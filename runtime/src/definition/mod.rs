//! `deployment.json`: a deployment's definition, with the Hopsworks predictor field names.
//!
//! Parsing rejects unknown fields and wrong types with the path of the offending field
//! (`resources.limits.cores: invalid type ...`); [`DeploymentConfig::validate`] then checks
//! values and their combinations, naming the field (every number against its bounds:
//! [`ranges`]), and returns warnings for features that are parsed and kept but not served yet.

pub mod ranges;
mod sections;

use ranges::{check_batcher, check_logger_numbers, check_resources, check_scaling, in_range};
pub use sections::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The file that defines a deployment, inside its folder.
pub const DEFINITION_FILE: &str = "deployment.json";

/// Largest definition read: far above any real one, far below what could hurt.
pub const MAX_DEFINITION_BYTES: u64 = 1 << 20;

/// Environment variables the runtime sets itself; `env_vars` cannot override them.
pub const RESERVED_ENV_VARS: [&str; 6] = [
    "ARTIFACT_FILES_PATH",
    "DEPLOYMENT_NAME",
    "MODEL_NAME",
    "MODEL_VERSION",
    "ARTIFACT_VERSION",
    "CONFIG_FILE_PATH",
];

/// A definition that cannot be served; the message names the field.
#[derive(Debug, thiserror::Error)]
#[error("invalid deployment definition: {0}")]
pub struct ConfigError(pub String);

/// A deployment's definition.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DeploymentConfig {
    /// Deployment name: the `{m}` of every endpoint.
    pub name: String,
    /// Hopsworks' numeric deployment id (`servingId` / `modelId` in the inference log);
    /// default: a stable number derived from the name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Registry name of the model; defaults to `name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_name: Option<String>,
    /// Model version (V2 `versions`); defaults to 1.
    #[serde(default = "one")]
    pub model_version: u32,
    /// Artifact version; defaults to 1.
    #[serde(default = "one")]
    pub artifact_version: u32,
    /// Where the model lives in the registry (informative).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_framework: Option<ModelFramework>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_server: Option<ModelServer>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serving_tool: Option<ServingTool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_protocol: Option<ApiProtocol>,
    /// A predictor component (`.wasm`) in the deployment folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component_file: Option<String>,
    /// A Python `Predict` script in the deployment folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script_file: Option<String>,
    /// A model graph (`.onnx`) served natively, with no component.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_file: Option<String>,
    /// A configuration file handed to the predictor (`CONFIG_FILE_PATH`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_file: Option<String>,
    #[serde(default)]
    pub resources: Resources,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inference_batcher: Option<InferenceBatcher>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inference_logger: Option<InferenceLogger>,
    #[serde(default)]
    pub scaling_configuration: ScalingConfiguration,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transformer: Option<TransformerConfig>,
    /// Extra environment variables for the predictor.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env_vars: BTreeMap<String, String>,
}

fn one() -> u32 {
    1
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ModelFramework {
    Tensorflow,
    Torch,
    Python,
    Sklearn,
    Onnx,
    /// A model saved by XGBoost (`model.json`, `model.ubj`), served by the tree engine.
    Xgboost,
    /// A LightGBM text model (`model.txt`), served by the tree engine.
    Lightgbm,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ModelServer {
    Python,
    TensorflowServing,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ServingTool {
    Default,
    Kserve,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ApiProtocol {
    Rest,
    Grpc,
}

/// What serves the predictions (or transforms the bodies).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PredictorSource {
    Component(String),
    Script(String),
    Model(String),
}

impl DeploymentConfig {
    /// Parses JSON text; errors name the path of the offending field.
    pub fn parse(text: &str) -> Result<DeploymentConfig, ConfigError> {
        let de = &mut serde_json::Deserializer::from_str(text);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if path == "." || path.is_empty() {
                ConfigError(inner.to_string())
            } else {
                ConfigError(format!("{path}: {inner}"))
            }
        })
    }

    /// `id`, or a stable number derived from the name (FNV-1a, 31 bits).
    pub fn serving_id(&self) -> i32 {
        match self.id {
            Some(id) => id as i32,
            None => {
                let hash = self.name.bytes().fold(0x811c_9dc5_u32, |h, b| {
                    (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
                });
                (hash & 0x7fff_ffff) as i32
            }
        }
    }

    /// The registry model name (`model_name`, else `name`).
    pub fn model_name(&self) -> &str {
        self.model_name.as_deref().unwrap_or(&self.name)
    }

    /// Which file serves the predictions.
    pub fn source(&self) -> Result<PredictorSource, ConfigError> {
        match (&self.component_file, &self.script_file, &self.model_file) {
            (Some(c), None, None) => Ok(PredictorSource::Component(c.clone())),
            (None, Some(s), None) => Ok(PredictorSource::Script(s.clone())),
            (None, None, Some(m)) => Ok(PredictorSource::Model(m.clone())),
            (None, None, None) => Err(ConfigError(
                "one of component_file, script_file or model_file is required".into(),
            )),
            _ => Err(ConfigError(
                "component_file, script_file and model_file are exclusive: give exactly one".into(),
            )),
        }
    }

    /// Instances that may serve at once.
    pub fn max_instances(&self) -> u32 {
        self.scaling_configuration
            .max_instances
            .unwrap_or_else(|| (self.resources.limits.cores.ceil() as u32).max(1))
    }

    /// Checks values and combinations. Returns warnings about fields kept but not yet served.
    pub fn validate(&self) -> Result<Vec<String>, ConfigError> {
        let err = |m: String| Err(ConfigError(m));
        if !valid_name(&self.name) {
            return err(format!(
                "name: {:?} must be 1-63 letters, digits or '-', starting with a letter",
                self.name
            ));
        }
        if let Some(m) = &self.model_name
            && (m.is_empty() || m.contains(['/', ':']))
        {
            return err(format!(
                "model_name: {m:?} must be non-empty, without '/' or ':'"
            ));
        }
        if self.model_version == 0 {
            return err("model_version: must be at least 1".into());
        }
        if let Some(id) = self.id {
            // `serving_id` is an i32 in the inference log.
            in_range("id", id, 0..=i32::MAX as u32, "")?;
        }
        self.source()?;
        for (field, file) in [
            ("component_file", &self.component_file),
            ("script_file", &self.script_file),
            ("model_file", &self.model_file),
            ("config_file", &self.config_file),
        ] {
            if let Some(f) = file {
                check_relative(field, f)?;
            }
        }
        check_resources("resources", &self.resources)?;
        check_scaling(
            "scaling_configuration",
            &self.scaling_configuration,
            self.max_instances(),
        )?;
        for name in self.env_vars.keys() {
            if RESERVED_ENV_VARS.contains(&name.as_str()) {
                return err(format!(
                    "env_vars.{name}: set by the runtime, cannot be overridden"
                ));
            }
            if name.is_empty() || name.contains(['=', '\0']) {
                return err(format!("env_vars: {name:?} is not a valid variable name"));
            }
        }

        let mut warnings = Vec::new();
        if let Some(b) = &self.inference_batcher {
            check_batcher("inference_batcher", b)?;
        }
        if let Some(l) = &self.inference_logger {
            if l.kafka_topic.as_ref().is_some_and(|t| t.name.is_empty()) {
                return err("inference_logger.kafka_topic.name: must not be empty".into());
            }
            check_logger_numbers(l)?;
            if let Some(h) = l
                .headers
                .iter()
                .find(|h| axum::http::HeaderName::from_bytes(h.as_bytes()).is_err())
            {
                return err(format!(
                    "inference_logger.headers: {h:?} is not a header name"
                ));
            }
        }
        if let Some(t) = &self.transformer {
            t.source()?;
            for (field, file) in [
                ("transformer.component_file", &t.component_file),
                ("transformer.script_file", &t.script_file),
            ] {
                if let Some(f) = file {
                    check_relative(field, f)?;
                }
            }
            check_resources("transformer.resources", &t.resources)?;
            if let Some(b) = &t.inference_batcher {
                check_batcher("transformer.inference_batcher", b)?;
            }
            check_scaling(
                "transformer.scaling_configuration",
                &t.scaling_configuration,
                t.max_instances(),
            )?;
        }
        if self.api_protocol == Some(ApiProtocol::Grpc) {
            warnings.push("api_protocol GRPC is not served yet: the REST endpoints answer".into());
        }
        if self.resources.requests.gpus > 0 || self.resources.limits.gpus > 0 {
            warnings.push(
                "resources.gpus: this runtime has no GPU support; the request is ignored".into(),
            );
        }
        Ok(warnings)
    }
}

/// The deployment-name rule (also `store::DeploymentName`): the name is a file name in the store.
pub fn valid_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    (1..=63).contains(&bytes.len())
        && bytes[0].is_ascii_alphabetic()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
        && !name.ends_with('-')
}

fn check_relative(field: &str, path: &str) -> Result<(), ConfigError> {
    let p = std::path::Path::new(path);
    if path.is_empty()
        || p.is_absolute()
        || p.components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return Err(ConfigError(format!(
            "{field}: {path:?} must be a path inside the deployment folder"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<DeploymentConfig, ConfigError> {
        let c = DeploymentConfig::parse(text)?;
        c.validate()?;
        Ok(c)
    }

    #[test]
    fn minimal_definition_gets_hopsworks_defaults() {
        let c = parse(r#"{"name": "iris", "model_file": "model.onnx"}"#).unwrap();
        assert_eq!(c.model_name(), "iris");
        assert_eq!(c.model_version, 1);
        assert_eq!(c.resources.limits.memory, 1024);
        assert_eq!(c.scaling_configuration.target, 100);
        assert_eq!(c.max_instances(), 2);
        assert_eq!(
            c.source().unwrap(),
            PredictorSource::Model("model.onnx".into())
        );
    }

    #[test]
    fn unknown_and_mistyped_fields_are_named() {
        let e =
            parse(r#"{"name": "iris", "model_file": "m.onnx", "modle_version": 2}"#).unwrap_err();
        assert!(e.0.contains("unknown field `modle_version`"), "{e}");
        let e = parse(r#"{"name": "iris", "model_file": "m.onnx", "resources": {"limits": {"cores": "two", "memory": 1}}}"#)
            .unwrap_err();
        assert!(e.0.starts_with("resources.limits.cores:"), "{e}");
        let e = parse(r#"{"name": "iris", "model_file": "m.onnx", "model_server": "FLASK"}"#)
            .unwrap_err();
        assert!(e.0.starts_with("model_server:"), "{e}");
    }

    #[test]
    fn invalid_values_are_named() {
        for (text, field) in [
            (r#"{"name": "bad name", "model_file": "m.onnx"}"#, "name:"),
            (r#"{"name": "a"}"#, "one of component_file"),
            (
                r#"{"name": "a", "model_file": "m.onnx", "component_file": "p.wasm"}"#,
                "exclusive",
            ),
            (r#"{"name": "a", "model_file": "../m.onnx"}"#, "model_file:"),
            (
                r#"{"name": "a", "model_file": "m.onnx", "inference_batcher": {"enabled": true, "max_latency": 0}}"#,
                "inference_batcher.max_latency",
            ),
            (
                r#"{"name": "a", "model_file": "m.onnx", "env_vars": {"MODEL_NAME": "x"}}"#,
                "env_vars.MODEL_NAME",
            ),
            (
                r#"{"name": "a", "model_file": "m.onnx", "scaling_configuration": {"min_instances": 5, "max_instances": 2}}"#,
                "scaling_configuration.min_instances",
            ),
            (
                r#"{"name": "a", "model_file": "m.onnx", "resources": {"requests": {"cores": 4, "memory": 32}}}"#,
                "resources.requests.cores",
            ),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.0.contains(field), "{text}: {e}");
        }
    }

    #[test]
    fn features_not_built_yet_warn() {
        let c = DeploymentConfig::parse(
            r#"{"name": "a", "model_file": "m.onnx",
                "inference_batcher": {"enabled": true, "max_batch_size": 8},
                "inference_logger": {"mode": "ALL", "kafka_topic": {"name": "t"}},
                "api_protocol": "GRPC"}"#,
        )
        .unwrap();
        let warnings = c.validate().unwrap();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
    }

    #[test]
    fn inference_logger_fields_are_checked() {
        for (logger, field) in [
            (r#"{"sampling_rate": 0}"#, "inference_logger.sampling_rate"),
            (r#"{"headers": ["bad header"]}"#, "inference_logger.headers"),
            (r#"{"schema": "AVRO"}"#, "inference_logger.schema"),
        ] {
            let text =
                format!(r#"{{"name": "a", "model_file": "m.onnx", "inference_logger": {logger}}}"#);
            let e = parse(&text).unwrap_err();
            assert!(e.0.contains(field), "{text}: {e}");
        }
        let c = parse(r#"{"name": "a", "model_file": "m.onnx", "inference_logger": {"mode": "ALL", "schema": "DOCKER", "format": "JSON"}}"#).unwrap();
        let l = c.inference_logger.clone().unwrap();
        assert_eq!(
            (l.schema, l.format, l.sampling_rate),
            (LogSchema::Docker, LogFormat::Json, 1.0)
        );
        assert_eq!(
            c.serving_id(),
            parse(r#"{"name": "a", "model_file": "m.onnx"}"#)
                .unwrap()
                .serving_id()
        );
    }
}
