//! Times the stages of a V1 request on a native model, in process (no HTTP):
//! `cargo run --release --example native_path -- examples/iris-onnx/model.onnx`.

use predictor_runtime::Codec;
use predictor_runtime::NativeModel;
use predictor_runtime::V1;
use predictor_runtime::decode_nested;
use predictor_runtime::{Accepts, Output};
use std::time::Instant;

fn main() {
    let path = std::env::args().nth(1).expect("a model path");
    let model = NativeModel::load(&path, &std::fs::read(&path).unwrap()).unwrap();
    let body = br#"{"instances": [[5.1, 3.5, 1.4, 0.2]]}"#;
    let spec = model.inputs().next().expect("the model has an input");
    let n = 200_000;
    let time = |label: &str, f: &mut dyn FnMut()| {
        for _ in 0..1000 {
            f();
        }
        let start = Instant::now();
        for _ in 0..n {
            f();
        }
        println!(
            "{label:<28} {:>8.2} us",
            start.elapsed().as_secs_f64() * 1e6 / n as f64
        );
    };
    time("decode body", &mut || {
        std::hint::black_box(V1::default().decode(body, Accepts::JsonOrTensors).ok());
    });
    let value: serde_json::Value = serde_json::json!([[5.1, 3.5, 1.4, 0.2]]);
    time("json -> tensor", &mut || {
        std::hint::black_box(decode_nested(&spec.name, spec.datatype, &value).unwrap());
    });
    let input = decode_nested(&spec.name, spec.datatype, &value).unwrap();
    time("model.run", &mut || {
        std::hint::black_box(model.run(vec![input.clone()]).unwrap());
    });
    let specs: Vec<_> = model.inputs().cloned().collect();
    time("decode body for the graph", &mut || {
        std::hint::black_box(V1::default().decode(body, Accepts::Tensors(&specs)).ok());
    });
    let out = Output::Tensors(model.run(vec![input.clone()]).unwrap());
    time("encode answer", &mut || {
        std::hint::black_box(V1::default().encode(false, &out).unwrap());
    });
}
