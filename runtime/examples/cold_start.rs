//! Cold starts of deployments, in process: from a deployment with no live instance (its
//! compiled artifact in the cache) or no loaded graph to its first answer, many times.
//!
//! `cold_start DATA_DIR CYCLES DEPLOYMENT_DIR...` (run by `scripts/bench.sh`). For each
//! deployment it first reports what a first deploy costs on an empty cache (componentize
//! for a script, compile), then per cycle: scale the deployment's predictor to zero (as the
//! autoscaler does after the retention period: instances dropped, compiled component
//! unloaded), then time a request through the serving path: reload the serialized artifact
//! by its digest, link it, instantiate and `init` one instance, answer the folder's
//! `request.json`. A native graph at zero is loaded again from its file (parse, optimize,
//! plan) by the same request. Prints one JSON object per deployment.

use predictor_runtime::capacity::NodeCapacity;
use predictor_runtime::deployment::loader::Loader;
use predictor_runtime::inference::{self, Payload};
use predictor_runtime::predictor::Predictor;
use predictor_runtime::wasm::engine::EngineLimits;
use serde_json::value::RawValue;
use std::path::PathBuf;
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
        let loader = Loader::new(
            fresh.path(),
            &EngineLimits::default(),
            None,
            NodeCapacity::detect(),
        )?;
        let started = Instant::now();
        let first = loader.start(&dir).await?;
        let first_deploy_ms = started.elapsed().as_secs_f64() * 1e3;
        let build_log: Vec<String> = first.log.tail(20).into_iter().map(|l| l.message).collect();
        drop(first);

        let loader = Loader::new(
            &data_dir,
            &EngineLimits::default(),
            None,
            NodeCapacity::detect(),
        )?;
        let deployment = loader.start(&dir).await?;
        let Ok(predictor) = deployment.predictor() else {
            anyhow::bail!("{}: not running", dir.display());
        };
        let request: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("request.json"))?)?;
        let instances = request["instances"].to_string();
        let config = deployment.config.clone();

        let mut total = Vec::with_capacity(cycles);
        for _ in 0..cycles + 5 {
            // What the autoscaler does after the retention period: no instance, and the
            // compiled component unloaded; or the graph unloaded.
            match predictor {
                Predictor::Component(c) => c.pool().scale_to_zero(),
                Predictor::Native(g) => {
                    g.scale_to_zero();
                }
            }
            assert_eq!(
                deployment.lifecycle_state(),
                predictor_runtime::lifecycle::LifecycleState::Idle,
                "the stage went to zero"
            );
            let payload = Payload::Json {
                columnar: false,
                body: RawValue::from_string(instances.clone())?,
            };
            let t0 = Instant::now();
            std::hint::black_box(inference::run(predictor, &config.name, payload).await?);
            total.push(t0.elapsed().as_secs_f64() * 1e3);
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
            })
        );
    }
    Ok(())
}
