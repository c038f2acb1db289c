//! Components as the process makes them: a stage's `component_file` read, or its
//! `script_file` componentized; compiled (or found in the compile cache by digest) and linked
//! as the stage's world; and the sandbox and environment each stage's instances get.

use super::{DeployError, ProcessState};
use crate::artifacts::Artifacts;
use crate::definition::{DeploymentConfig, PredictorSource};
use crate::deployment_log::DeploymentLog;
use crate::role::Role;
use crate::wasm::compile_cache::CacheOutcome;
use crate::wasm::component::{self, LoadedComponent};
use crate::wasm::pool::{PoolConfig, Reload};
use crate::wasm::sandbox::{GUEST_ARTIFACT_DIR, SandboxSpec};
use crate::wasm::world::GuestWorld;
use std::sync::Arc;
use std::time::Instant;

/// Largest component file accepted.
pub const MAX_COMPONENT_BYTES: u64 = 512 << 20;
/// Largest Python script accepted.
pub const MAX_SCRIPT_BYTES: u64 = 4 << 20;

impl ProcessState {
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

    /// How a stage at zero reloads component `digest`, linked as world `G`.
    pub fn reload<G: GuestWorld>(self: &Arc<Self>, digest: &str) -> Reload<G> {
        let (process, digest) = (Arc::clone(self), digest.to_string());
        Arc::new(move || process.load_cached::<G>(&digest).map(|l| l.pre))
    }

    /// The sandbox of a stage of `role`: its artifact folder, environment and log.
    pub fn sandbox(
        &self,
        config: &DeploymentConfig,
        artifacts: &Artifacts,
        log: &Arc<DeploymentLog>,
        role: Role,
    ) -> SandboxSpec {
        SandboxSpec {
            artifact_root: artifacts.root().to_path_buf(),
            env: guest_env(config),
            log: log.stage(role),
        }
    }

    /// The component of a stage, from its `component_file`, or componentized from its
    /// `script_file`; compiled (or loaded from the compile cache) and linked as world `G`.
    pub async fn load_component<G: GuestWorld>(
        self: &Arc<Self>,
        artifacts: &Artifacts,
        source: &PredictorSource,
        role: Role,
        log: &Arc<DeploymentLog>,
    ) -> Result<LoadedComponent<G>, DeployError> {
        let prefix = match role {
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
                let process = Arc::clone(self);
                let name = file.clone();
                let built = tokio::task::spawn_blocking(move || {
                    process.componentizer.build(role, &name, &source)
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
            PredictorSource::Model(file) => {
                return Err(DeployError::Unsupported(format!(
                    "{prefix}model_file {file:?} is served natively, not as a component"
                )));
            }
        };
        let process = Arc::clone(self);
        let compile_started = Instant::now();
        let loaded = tokio::task::spawn_blocking(move || {
            component::load::<G>(&process.cache, &process.linker, &bytes)
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
pub fn scaling_summary(stage: &str, pool: &PoolConfig, memory_mb: u64) -> String {
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
