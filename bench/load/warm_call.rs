//! The cost of one warm call into a component deployment, in process (no HTTP): the
//! folder's `request.json` through `predict_json`, many times on one warm instance.
//!
//! `warm_call DATA_DIR CALLS DEPLOYMENT_DIR...`: prints microseconds per call (median of
//! five batches) for each deployment. A tool for tuning guests and the SDKs.

use predictor_runtime::Deployment;
use predictor_runtime::EngineLimits;
use predictor_runtime::Predictor;
use predictor_runtime::ProcessState;
use std::path::PathBuf;
use std::time::Instant;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let data_dir = PathBuf::from(args.next().expect("DATA_DIR"));
    let calls: usize = args.next().expect("CALLS").parse()?;
    // Concurrent callers (as many requests in flight as a server would have).
    let tasks_per_batch: usize = std::env::var("CONCURRENCY").map_or(Ok(1), |c| c.parse())?;
    let process = ProcessState::new(
        &data_dir,
        &EngineLimits::default(),
        None,
        predictor_runtime::NodeCapacity::detect(),
    )?;
    for dir in args.map(PathBuf::from) {
        let deployment = Deployment::start(&process, &dir).await?;
        let Ok(Predictor::Component(_)) = deployment.predictor() else {
            anyhow::bail!("{}: not a running component deployment", dir.display());
        };
        let request: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("request.json"))?)?;
        let instances = request["instances"].to_string();
        let deployment = std::sync::Arc::new(deployment);
        let mut batches = Vec::new();
        for _ in 0..6 {
            let started = Instant::now();
            let mut tasks = Vec::new();
            for _ in 0..tasks_per_batch {
                let deployment = std::sync::Arc::clone(&deployment);
                let instances = instances.clone();
                tasks.push(tokio::spawn(async move {
                    let Ok(Predictor::Component(component)) = deployment.predictor() else {
                        unreachable!()
                    };
                    for _ in 0..calls / tasks_per_batch {
                        std::hint::black_box(component.predict_json(&instances).await?);
                    }
                    anyhow::Ok(())
                }));
            }
            for t in tasks {
                t.await??;
            }
            batches.push(started.elapsed().as_secs_f64() * 1e6 / calls as f64);
        }
        batches.remove(0);
        batches.sort_by(f64::total_cmp);
        println!("{:<16} {:>8.1} us per call", deployment.name(), batches[2]);
    }
    Ok(())
}
