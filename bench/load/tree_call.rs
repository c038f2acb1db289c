//! Per-call compute of native tree models, in process (no HTTP): `NativeModel::run` timed
//! call by call for batches of 1 and 64 rows, the counterpart of `bench/ort_call.py`.
//!
//! `tree_call MODELS_DIR` (run by `bench/trees.py`) reads `MODELS_DIR/manifest.json` (made
//! by `bench/tree_models.py`) and, for every file of every model (the ONNX export and the
//! library's own format), loads it with `NativeModel::load`, runs it on the folder's
//! held-out rows (`x.f32`) and prints one JSON object per (model, file, batch): the median
//! and quartiles of a call in microseconds. A call here is what the server pays per batch:
//! the input tensor moved in, the run, the outputs dropped. Each is timed on one thread
//! (`"threads": 1`) and allowed every core (`"threads": "default"`), as the server runs a
//! batch when the deployment's other cores are free (`NativeModel::run_with`).

use predictor_runtime::NativeModel;
use predictor_runtime::{Datatype, Tensor};
use std::path::Path;
use std::time::Instant;

#[derive(serde::Deserialize)]
struct Manifest {
    models: Vec<Entry>,
}

#[derive(serde::Deserialize)]
struct Entry {
    name: String,
    dir: String,
    width: usize,
    files: Vec<String>,
}

/// Windows of `batch` rows moving along the held-out rows (as in `bench/ort_call.py`), so
/// no call sees the previous one's rows.
fn windows(rows: &[u8], width: usize, batch: usize) -> anyhow::Result<Vec<Tensor>> {
    let row_bytes = width * 4;
    if width == 0 || !rows.len().is_multiple_of(row_bytes) || rows.len() / row_bytes < batch {
        anyhow::bail!(
            "x.f32 holds {} bytes: not whole rows of {width} floats, or fewer than {batch} rows",
            rows.len()
        );
    }
    let n = rows.len() / row_bytes;
    (0..=n - batch)
        .step_by((batch / 2).max(1))
        .take(64)
        .map(|r| {
            let bytes = rows[r * row_bytes..(r + batch) * row_bytes].to_vec();
            Ok(Tensor::new("", Datatype::Fp32, vec![batch, width], bytes)?)
        })
        .collect()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() -> anyhow::Result<()> {
    let dir = std::env::args().nth(1).expect("MODELS_DIR");
    let dir = Path::new(&dir);
    let manifest: Manifest = serde_json::from_slice(&std::fs::read(dir.join("manifest.json"))?)?;
    for entry in &manifest.models {
        let folder = dir.join(&entry.dir);
        let rows = std::fs::read(folder.join("x.f32"))?;
        for file in &entry.files {
            let path = folder.join(file);
            let model = NativeModel::load(file, &std::fs::read(&path)?)?;
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            for (batch, threads) in [(1usize, 1usize), (1, cores), (64, 1), (64, cores)] {
                let inputs = windows(&rows, entry.width, batch)?;
                let calls = if batch == 1 { 20_000 } else { 2_000 };
                let mut times = Vec::with_capacity(calls);
                for k in 0..calls + calls / 10 {
                    let input = inputs[k % inputs.len()].clone();
                    let started = Instant::now();
                    let outputs = model.run_with(vec![input], threads)?;
                    drop(std::hint::black_box(outputs));
                    times.push(started.elapsed().as_secs_f64() * 1e6);
                }
                times.drain(..calls / 10); // warm-up: caches, the allocator's pools
                times.sort_by(f64::total_cmp);
                println!(
                    "{}",
                    serde_json::json!({
                        "model": entry.name,
                        "file": file,
                        "batch": batch,
                        "threads": if threads == 1 { serde_json::json!(1) } else { serde_json::json!("default") },
                        "median_us": percentile(&times, 0.5),
                        "p25_us": percentile(&times, 0.25),
                        "p75_us": percentile(&times, 0.75),
                    })
                );
            }
        }
    }
    Ok(())
}
