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

use predictor_runtime::Codec;
use predictor_runtime::Deployment;
use predictor_runtime::EngineLimits;
use predictor_runtime::NodeCapacity;
use predictor_runtime::Predictor;
use predictor_runtime::ProcessState;
use predictor_runtime::V1;
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
        let process = ProcessState::new(
            fresh.path(),
            &EngineLimits::default(),
            None,
            NodeCapacity::detect(),
        )?;
        let started = Instant::now();
        let first = Deployment::start(&process, &dir).await?;
        let first_deploy_ms = started.elapsed().as_secs_f64() * 1e3;
        let build_log: Vec<String> = first.log.tail(20).into_iter().map(|l| l.message).collect();
        drop(first);

        let process = ProcessState::new(
            &data_dir,
            &EngineLimits::default(),
            None,
            NodeCapacity::detect(),
        )?;
        let deployment = Deployment::start(&process, &dir).await?;
        let Ok(predictor) = deployment.predictor() else {
            anyhow::bail!("{}: not running", dir.display());
        };
        let request = std::fs::read(dir.join("request.json"))?;
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
                deployment.lifecycle_state().as_str(),
                "Idle",
                "the stage went to zero"
            );
            let t0 = Instant::now();
            let (payload, _) = V1::default().decode(&request, predictor.accepts())?;
            std::hint::black_box(predictor.run(&config.name, payload).await?);
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
