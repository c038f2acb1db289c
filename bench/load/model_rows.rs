//! What one row costs a native graph alone or in a batch: the ceiling batching can reach
//! on this machine for a model, whatever the serving around it.
//!
//! `model_rows MODEL.onnx WIDTH [BATCH...]` (run by `scripts/bench.sh`) runs the graph on
//! FP32 rows of `WIDTH` features, in batches of 1 and of each BATCH, for about a second
//! each, and prints one JSON object: microseconds per row by batch size (median of 5).

use predictor_runtime::NativeModel;
use predictor_runtime::{Datatype, Tensor};
use std::time::{Duration, Instant};

fn rows(n: usize, width: usize) -> Tensor {
    let data = (0..n * width)
        .flat_map(|i| ((i % 97) as f32 / 97.0).to_le_bytes())
        .collect();
    Tensor::new("", Datatype::Fp32, vec![n, width], data).expect("rows fill their shape")
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("MODEL.onnx");
    let width: usize = args.next().expect("WIDTH").parse()?;
    let mut batches: Vec<usize> = vec![1];
    batches.extend(
        args.map(|b| b.parse::<usize>())
            .collect::<Result<Vec<_>, _>>()?,
    );
    let model = NativeModel::load(&path, &std::fs::read(&path)?)?;
    let mut per_row = serde_json::Map::new();
    for batch in batches {
        let input = rows(batch, width);
        model.run(vec![input.clone()])?;
        let mut samples = Vec::new();
        for _ in 0..5 {
            let (started, mut runs) = (Instant::now(), 0);
            while started.elapsed() < Duration::from_millis(200) {
                model.run(vec![input.clone()])?;
                runs += 1;
            }
            samples.push(started.elapsed().as_secs_f64() * 1e6 / (runs * batch) as f64);
        }
        samples.sort_by(f64::total_cmp);
        per_row.insert(batch.to_string(), serde_json::json!(samples[2]));
    }
    println!(
        "{}",
        serde_json::json!({"model": path, "us_per_row": per_row})
    );
    Ok(())
}
