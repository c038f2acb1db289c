//! A deployment's transformer made from its definition's `transformer` section: its
//! component (from `component_file` or a componentized `script_file`) compiled, pooled,
//! warmed, and put behind its phases' batchers.

use super::TransformerStage;
use crate::artifacts::Artifacts;
use crate::definition::DeploymentConfig;
use crate::deployment_log::DeploymentLog;
use crate::native::models::ModelCache;
use crate::process::components::scaling_summary;
use crate::process::{DeployError, ProcessState};
use crate::role::Role;
use crate::wasm;
use crate::wasm::transformer::ComponentTransformer;
use std::sync::Arc;

/// The transformer of `config`, or `None` when it has none.
pub async fn assemble(
    process: &Arc<ProcessState>,
    config: &DeploymentConfig,
    artifacts: &Arc<Artifacts>,
    models: &Arc<ModelCache>,
    log: &Arc<DeploymentLog>,
) -> Result<Option<TransformerStage>, DeployError> {
    let Some(t) = &config.transformer else {
        return Ok(None);
    };
    let loaded = process
        .load_component::<wasm::bindings::Transformer>(
            artifacts,
            &t.source()?,
            Role::Transformer,
            log,
        )
        .await?;
    let pool = process.pool_config(&t.resources, &t.scaling_configuration, t.max_instances());
    log.info(scaling_summary(
        "transformer ",
        &pool,
        t.resources.limits.memory,
    ));
    let reload = process.reload::<wasm::bindings::Transformer>(&loaded.digest);
    let component = ComponentTransformer::start(
        loaded,
        Some(reload),
        process.sandbox(config, artifacts, log, Role::Transformer),
        Arc::clone(models),
        pool,
        process.metrics().stage(&config.name, Role::Transformer),
    )
    .await
    .map_err(DeployError::Transformer)?;
    Ok(Some(TransformerStage::new(
        component,
        config,
        process.max_queue(),
        process.metrics(),
        log,
    )))
}
