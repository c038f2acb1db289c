//! A deployment's predictor made from its definition: its `model_file` loaded as a native
//! graph (with its run slots and scale-to-zero retention, and a TF Serving folder's other
//! versions), or its component (from
//! `component_file` or a componentized `script_file`) compiled, pooled and warmed.

use super::Predictor;
use crate::artifacts::Artifacts;
use crate::definition::{DeploymentConfig, PredictorSource};
use crate::deployment_log::DeploymentLog;
use crate::native::ModelError;
use crate::native::budget::MemoryBudget;
use crate::native::gate::Gate;
use crate::native::models::ModelCache;
use crate::native::stage::GraphStage;
use crate::native::versions::Versions;
use crate::process::components::scaling_summary;
use crate::process::{DeployError, ProcessState};
use crate::role::Role;
use crate::scaling::ScalingPolicy;
use crate::wasm;
use crate::wasm::component::ComponentPredictor;
use std::sync::Arc;
use std::time::Instant;

/// Builds the predictor of `config`, whose files are `artifacts` (models through `models`).
pub async fn assemble(
    process: &Arc<ProcessState>,
    config: &DeploymentConfig,
    artifacts: &Arc<Artifacts>,
    models: &Arc<ModelCache>,
    log: &Arc<DeploymentLog>,
) -> Result<Predictor, DeployError> {
    let metrics = process.metrics().stage(&config.name, Role::Predictor);
    let source = config.source()?;
    if let PredictorSource::Model(file) = source {
        let started = Instant::now();
        let model = models.model(&file).await?;
        log.info(format!(
            "serving native model {file} ({} inputs, {} outputs, {:.1} MiB once loaded), loaded in {} ms",
            model.inputs().len(),
            model.outputs().len(),
            model.resident_bytes() as f64 / (1u64 << 20) as f64,
            started.elapsed().as_millis()
        ));
        crate::native::tensorflow::log_signatures(&model, log);
        let memory = MemoryBudget::new(config.resources.limits.memory_bytes() as u64);
        memory
            .admit(model.resident_bytes())
            .map_err(|message| ModelError::Load {
                source_name: file.clone(),
                message,
            })?;
        let gate = Gate::for_cores(
            config.resources.limits.cores,
            process.max_queue(),
            metrics.clone(),
        )
        .with_deadline(process.call_deadline())
        .with_memory(memory);
        let scaling = &config.scaling_configuration;
        let retention =
            (scaling.min_instances == 0).then(|| ScalingPolicy::new(scaling, 1).retention);
        if let Some(r) = retention {
            log.info(format!(
                "min_instances 0: the graph is unloaded after {} s without a request",
                r.as_secs()
            ));
        }
        let mut graph = GraphStage::new(
            file.clone(),
            Arc::clone(models),
            model,
            gate,
            retention,
            metrics,
        );
        if let Some(versions) = folder_versions(artifacts, &file) {
            let others: Vec<String> = versions
                .all()
                .filter(|&v| v != versions.served())
                .map(|v| v.to_string())
                .collect();
            if !others.is_empty() {
                log.info(format!(
                    "TF Serving folder {file}: version {} served by default, version(s) {} by /versions/N, each loaded on its first request",
                    versions.served(),
                    others.join(", ")
                ));
            }
            graph = graph.with_versions(versions);
        }
        return Ok(Predictor::Native(Box::new(graph)));
    }
    let loaded = process
        .load_component::<wasm::bindings::Predictor>(artifacts, &source, Role::Predictor, log)
        .await?;
    let pool = process.pool_config(
        &config.resources,
        &config.scaling_configuration,
        config.max_instances(),
    );
    log.info(scaling_summary("", &pool, config.resources.limits.memory));
    let reload = process.reload::<wasm::bindings::Predictor>(&loaded.digest);
    let predictor = ComponentPredictor::start(
        loaded,
        Some(reload),
        process.sandbox(config, artifacts, log, Role::Predictor),
        Arc::clone(models),
        pool,
        metrics,
    )
    .await?;
    Ok(Predictor::Component(Box::new(predictor)))
}

/// The versions of `file` when it is a TF Serving model folder (`MODEL/N/saved_model.pb`).
fn folder_versions(artifacts: &Artifacts, file: &str) -> Option<Versions> {
    if !artifacts.is_dir(file) {
        return None;
    }
    let versions = crate::native::tensorflow::versions(artifacts, file).ok()??;
    Some(Versions::new(artifacts, file, &versions))
}
