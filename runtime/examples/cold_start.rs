//! Cold starts of component deployments, in process: from a deployment with no live
//! instance (its compiled artifact in the cache) to its first answer, many times.
//!
//! `cold_start DATA_DIR CYCLES DEPLOYMENT_DIR...` (run by `scripts/bench.sh`). For each
//! deployment it first reports what a first deploy costs on an empty cache (componentize
//! for a script, compile), then per cycle: load the serialized artifact by its digest, link
//! it, instantiate and `init` one instance, and answer the folder's `request.json`. Prints
//! one JSON object per deployment.

use predictor_runtime::deployment::artifacts::Artifacts;
use predictor_runtime::deployment::loader::{Loader, guest_env};
use predictor_runtime::deployment::log::DeploymentLog;
use predictor_runtime::predictor::Predictor;
use predictor_runtime::wasm::bindings;
use predictor_runtime::wasm::component::ComponentPredictor;
use predictor_runtime::wasm::engine::EngineLimits;
use predictor_runtime::wasm::pool::PoolConfig;
use predictor_runtime::wasm::sandbox::SandboxSpec;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let data_dir = PathBuf::from(args.next().expect("DATA_DIR"));
    let cycles: usize = args.next().expect("CYCLES").parse()?;
    for dir in args.map(PathBuf::from) {
        // A first deploy on an empty cache: what componentize-py and Cranelift cost.
        let fresh = tempfile::tempdir()?;
        let loader = Loader::new(fresh.path(), &EngineLimits::default(), None)?;
        let started = Instant::now();
        let first = loader.start(&dir).await?;
        let first_deploy_ms = started.elapsed().as_secs_f64() * 1e3;
        let build_log: Vec<String> = first.log.tail(20).into_iter().map(|l| l.message).collect();
        drop(first);

        let loader = Loader::new(&data_dir, &EngineLimits::default(), None)?;
        let deployment = loader.start(&dir).await?;
        let Ok(Predictor::Component(component)) = deployment.predictor() else {
            anyhow::bail!("{}: not a running component deployment", dir.display());
        };
        let digest = component.digest.clone();
        let request: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("request.json"))?)?;
        let instances = request["instances"].to_string();
        let config = deployment.config.clone();
        let artifacts = Arc::new(Artifacts::open(&dir)?);
        let log = DeploymentLog::new(&config.name, 100);
        let pool = PoolConfig {
            max_instances: 1,
            memory_limit_bytes: (config.resources.limits.memory as usize) << 20,
            call_deadline: predictor_runtime::wasm::engine::DEFAULT_CALL_DEADLINE,
            max_queue: predictor_runtime::wasm::engine::DEFAULT_MAX_QUEUE,
        };

        let mut total = Vec::with_capacity(cycles);
        let mut load = Vec::with_capacity(cycles);
        let mut start = Vec::with_capacity(cycles);
        let mut answer = Vec::with_capacity(cycles);
        for _ in 0..cycles + 5 {
            let t0 = Instant::now();
            let loaded = loader
                .load_cached::<bindings::Predictor>(&digest)
                .expect("the artifact is cached");
            let t1 = Instant::now();
            let sandbox = SandboxSpec {
                artifact_root: artifacts.root().to_path_buf(),
                env: guest_env(&config),
                log: Arc::clone(&log),
            };
            let predictor =
                ComponentPredictor::start(loaded, sandbox, Arc::clone(&artifacts), pool.clone(), 1)
                    .await?;
            let t2 = Instant::now();
            std::hint::black_box(predictor.predict_json(&instances).await?);
            let t3 = Instant::now();
            drop(predictor);
            let ms = |a: Instant, b: Instant| (b - a).as_secs_f64() * 1e3;
            total.push(ms(t0, t3));
            load.push(ms(t0, t1));
            start.push(ms(t1, t2));
            answer.push(ms(t2, t3));
        }
        let summary = |v: &mut Vec<f64>| {
            v.drain(..5); // warm-up cycles: first page faults of the artifact file
            v.sort_by(f64::total_cmp);
            serde_json::json!({"p50_ms": percentile(v, 0.5), "p99_ms": percentile(v, 0.99)})
        };
        println!(
            "{}",
            serde_json::json!({
                "deployment": config.name,
                "cycles": cycles,
                "first_deploy_ms": first_deploy_ms,
                "first_deploy_log": build_log,
                "cold_start": summary(&mut total),
                "load_artifact": summary(&mut load),
                "instantiate_and_init": summary(&mut start),
                "first_answer": summary(&mut answer),
            })
        );
    }
    Ok(())
}
