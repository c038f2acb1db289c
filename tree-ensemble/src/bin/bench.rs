//! Per-call compute time of the engine on the benchmark models (RF-100, XGBoost-500,
//! LightGBM; ONNX attribute and native forms) for batches of 1 and 64 rows, taken from the
//! fixtures of `scripts/make.py`. Prints one JSON line per (model, batch) with the median
//! and quartiles in microseconds; `scripts/bench_ort.py` measures onnxruntime likewise.
//!
//! Run: `cargo run --release --bin bench [fixtures_dir]`.

#[path = "../../tests/common/mod.rs"]
mod common;

use std::time::Instant;

use tree_ensemble::{Forest, Scratch, lightgbm, xgboost};

const MODELS: [(&str, &str); 6] = [
    ("rf100_iris", "onnx"),
    ("xgb500_binary_onnx", "onnx"),
    ("lgbm100_multi_onnx", "onnx"),
    ("xgb500_binary", "xgboost"),
    ("lgbm100_multi", "lightgbm"),
    ("rf100_wide", "onnx"),
];

fn load(case: &serde_json::Value, kind: &str) -> Forest {
    let first = |ext: &str| {
        let files = case["files"].as_array().expect("native case lists files");
        let f = files
            .iter()
            .map(|f| f.as_str().unwrap())
            .find(|f| f.ends_with(ext))
            .expect("file");
        std::fs::read(common::dir().join(f)).expect("model file")
    };
    match kind {
        "onnx" => common::load_onnx(case),
        "xgboost" => xgboost::from_json(&first(".json")).expect("xgboost model"),
        _ => {
            lightgbm::from_text(&String::from_utf8(first(".txt")).unwrap()).expect("lightgbm model")
        }
    }
}

fn main() {
    if let Some(d) = std::env::args().nth(1) {
        // SAFETY: single-threaded at this point; read back by common::dir().
        unsafe { std::env::set_var("TREE_FIXTURES", d) };
    }
    let cases = common::manifest();
    for (name, kind) in MODELS {
        let Some(case) = cases.iter().find(|c| c["name"] == name) else {
            eprintln!("{name}: not in the fixtures");
            continue;
        };
        let f = load(case, kind);
        let x = common::array(case, "x").unwrap();
        let (rows, cols) = (x.shape[0], x.shape[1]);
        for batch in [1usize, 64] {
            let calls = if batch == 1 { 20_000 } else { 2_000 };
            let mut out = vec![0f32; batch * f.output_width()];
            let mut labels = vec![0i64; batch];
            let mut scratch = Scratch::default();
            let mut times = Vec::with_capacity(calls);
            for k in 0..calls + calls / 10 {
                let r0 = (k * batch) % (rows - batch + 1);
                let input = &x.f32s[r0 * cols..(r0 + batch) * cols];
                let t = Instant::now();
                f.predict(
                    input,
                    batch,
                    cols,
                    &mut out,
                    Some(&mut labels),
                    &mut scratch,
                )
                .unwrap();
                let dt = t.elapsed();
                std::hint::black_box(&out);
                if k >= calls / 10 {
                    times.push(dt.as_nanos() as f64 / 1000.0);
                }
            }
            times.sort_by(f64::total_cmp);
            let q = |p: f64| times[((times.len() - 1) as f64 * p) as usize];
            println!(
                "{{\"model\":\"{name}\",\"kind\":\"{kind}\",\"batch\":{batch},\"trees\":{},\"nodes\":{},\"median_us\":{:.3},\"p25_us\":{:.3},\"p75_us\":{:.3}}}",
                f.n_trees(),
                f.n_nodes(),
                q(0.5),
                q(0.25),
                q(0.75)
            );
        }
    }
}
