//! Per-batch compute of the Keras examples served natively, in process (no HTTP): the
//! deployment's graph stage (`NativeModel::run` behind the deployment's core gate, as the
//! server runs a batch) timed call by call, the counterpart of `bench/tf_call.py`.
//!
//! `tf_call DATA_DIR DEPLOYMENT_DIR...` (run by `bench/tf.py`) starts each deployment (a
//! SavedModel served with `model_server: TENSORFLOW_SERVING`), builds batches of 1 and 32
//! rows of its input's shape (values in [0, 1) from a fixed generator) and prints one JSON
//! object per (deployment, batch): the median and quartiles of a call in microseconds.

use predictor_runtime::{
    Datatype, Deployment, EngineLimits, NodeCapacity, Predictor, ProcessState, Tensor,
};
use std::path::PathBuf;
use std::time::Instant;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// `batch` rows of `row` floats in [0, 1), as little-endian FP32 bytes.
fn rows(batch: usize, row: usize, seed: u64) -> Vec<u8> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..batch * row)
        .flat_map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 40) as f32 / (1u64 << 24) as f32).to_le_bytes()
        })
        .collect()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let data_dir = PathBuf::from(args.next().expect("DATA_DIR"));
    let process = ProcessState::new(
        &data_dir,
        &EngineLimits::default(),
        None,
        NodeCapacity::detect(),
    )?;
    for dir in args.map(PathBuf::from) {
        let deployment = Deployment::start(&process, &dir).await?;
        let Ok(Predictor::Native(stage)) = deployment.predictor() else {
            anyhow::bail!("{}: not a running native graph", dir.display());
        };
        let spec = stage.inputs()[0].clone();
        if spec.datatype != Datatype::Fp32 {
            anyhow::bail!("{}: input {} is not FP32", dir.display(), spec.name);
        }
        let row: Vec<usize> = spec.shape[1..].iter().map(|&d| d.max(1) as usize).collect();
        let width: usize = row.iter().product();
        for batch in [1usize, 32] {
            let inputs: Vec<Tensor> = (0..16)
                .map(|k| {
                    let shape = [vec![batch], row.clone()].concat();
                    Tensor::new(&spec.name, Datatype::Fp32, shape, rows(batch, width, k))
                })
                .collect::<Result<_, _>>()?;
            let calls = if batch == 1 { 5_000 } else { 500 };
            let mut times = Vec::with_capacity(calls + calls / 10);
            for k in 0..calls + calls / 10 {
                let input = inputs[k % inputs.len()].clone();
                let started = Instant::now();
                let outputs = stage.run(None, None, vec![input]).await?;
                drop(std::hint::black_box(outputs));
                times.push(started.elapsed().as_secs_f64() * 1e6);
            }
            times.drain(..calls / 10); // warm-up: caches, the allocator's pools
            times.sort_by(f64::total_cmp);
            println!(
                "{}",
                serde_json::json!({
                    "deployment": deployment.config.name,
                    "batch": batch,
                    "median_us": percentile(&times, 0.5),
                    "p25_us": percentile(&times, 0.25),
                    "p75_us": percentile(&times, 0.75),
                })
            );
        }
    }
    Ok(())
}
