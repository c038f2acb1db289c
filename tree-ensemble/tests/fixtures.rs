//! Compares the engine with onnxruntime and with the libraries' own predictions on the
//! fixtures written by `scripts/make.py` (models, 1,000-row inputs with NaNs, outputs).
//! The fixtures are generated, not committed: without them these tests say so and pass,
//! unless `TREE_FIXTURES_REQUIRED=1`.

mod common;

use common::{Array, array, dir, load_onnx, manifest};
use serde_json::Value;
use tree_ensemble::{Forest, Labels, NativeTransform, Scratch, lightgbm, xgboost};

/// Run in uneven batches so block and lane remainders are exercised.
fn run(f: &Forest, x: &Array) -> (Vec<f32>, Vec<i64>) {
    let (rows, cols) = (x.shape[0], x.shape[1]);
    let w = f.output_width();
    let (mut s, mut l) = (vec![0f32; rows * w], vec![0i64; rows]);
    let mut scratch = Scratch::default();
    let mut r = 0;
    for batch in [1usize, 3, 8, 64, 77, 200].iter().cycle() {
        if r >= rows {
            break;
        }
        let b = (*batch).min(rows - r);
        f.predict(
            &x.f32s[r * cols..(r + b) * cols],
            b,
            cols,
            &mut s[r * w..(r + b) * w],
            Some(&mut l[r..r + b]),
            &mut scratch,
        )
        .unwrap();
        r += b;
    }
    (s, l)
}

/// Largest |a - b| with b widened to `a`'s row width (lib binary scores have 1 or 2 columns).
fn max_diff(ours: &[f32], theirs: &[f32]) -> f32 {
    assert_eq!(ours.len(), theirs.len(), "shape");
    ours.iter()
        .zip(theirs)
        .map(|(a, b)| {
            if a.is_nan() && b.is_nan() {
                0.0
            } else {
                (a - b).abs()
            }
        })
        .fold(0.0, f32::max)
}

/// Scores agree when the absolute difference is within 1e-5, or the relative one within
/// 1e-6 for large regression outputs where float summation order alone exceeds 1e-5.
fn close(a: f32, b: f32) -> bool {
    a == b || (a - b).abs() <= 1e-5 || (a - b).abs() <= 1e-6 * b.abs() || (a.is_nan() && b.is_nan())
}

#[test]
fn onnx_operators_match_onnxruntime() {
    let Some(cases) = manifest() else { return };
    let (mut n, mut worst, mut failures) = (0, 0f32, Vec::new());
    for case in cases.iter().filter(|c| c["kind"] == "onnx") {
        let name = case["name"].as_str().unwrap();
        let f = load_onnx(case);
        let x = array(case, "x").unwrap();
        let (ours, labels) = run(&f, &x);
        let ort = array(case, "scores").unwrap();
        let bad = ours
            .iter()
            .zip(&ort.f32s)
            .enumerate()
            .filter(|(_, (a, b))| !close(**a, **b));
        let bad: Vec<_> = bad
            .take(3)
            .map(|(i, (a, b))| format!("[{i}] ours {a} ort {b}"))
            .collect();
        let d = max_diff(&ours, &ort.f32s);
        if !bad.is_empty() {
            failures.push(format!("{name}: scores differ (max {d}): {bad:?}"));
        }
        worst = worst.max(if bad.is_empty() { d } else { 0.0 });
        if let Some(want) = array(case, "labels") {
            let wrong = labels
                .iter()
                .zip(&want.i64s)
                .filter(|(a, b)| a != b)
                .count();
            if wrong > 0 {
                failures.push(format!("{name}: {wrong} labels differ"));
            }
        }
        if let Some(want) = case.get("label_strings").and_then(|v| v.as_array()) {
            let Some(Labels::Str(names)) = f.labels() else {
                panic!("{name}: expected string labels")
            };
            let wrong = labels
                .iter()
                .zip(want)
                .filter(|(l, w)| names[**l as usize] != w.as_str().unwrap())
                .count();
            if wrong > 0 {
                failures.push(format!("{name}: {wrong} string labels differ"));
            }
        }
        n += 1;
    }
    println!("onnx cases: {n}, worst max |diff| among passing cases {worst:e}");
    assert!(
        failures.is_empty(),
        "{} of {n} cases differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(n > 0);
}

fn lib_scores(case: &Value, width: usize) -> Option<(&'static str, Array)> {
    for key in ["lib_proba", "lib_pred"] {
        if let Some(mut a) = array(case, key) {
            // Binary proba from a single-output model: compare the positive column.
            if key == "lib_proba" && width == 1 && a.shape.get(1) == Some(&2) {
                a.f32s = a.f32s.chunks(2).map(|c| c[1]).collect();
            }
            return Some((key, a));
        }
    }
    None
}

#[test]
fn native_models_match_their_libraries() {
    let Some(cases) = manifest() else { return };
    let mut n = 0;
    let mut failures = Vec::new();
    for case in cases
        .iter()
        .filter(|c| c["kind"] == "xgboost" || c["kind"] == "lightgbm")
    {
        let x = array(case, "x").unwrap();
        for file in case["files"].as_array().unwrap() {
            let file = file.as_str().unwrap();
            let bytes = std::fs::read(dir().join(file)).unwrap();
            let mut f = match (
                case["kind"].as_str().unwrap(),
                file.rsplit('.').next().unwrap(),
            ) {
                ("xgboost", "json") => xgboost::from_json(&bytes),
                ("xgboost", "ubj") => xgboost::from_ubjson(&bytes),
                _ => lightgbm::from_text(std::str::from_utf8(&bytes).unwrap()),
            }
            .unwrap_or_else(|e| panic!("{file}: {e}"));
            let (ours, _) = run(&f, &x);
            let (key, lib) = lib_scores(case, f.output_width()).unwrap();
            let d = max_diff(&ours, &lib.f32s);
            f.set_native_transform(NativeTransform::Identity);
            let (margin, _) = run(&f, &x);
            let m = array(case, "lib_margin").unwrap();
            let dm = max_diff(&margin, &m.f32s);
            println!("{file}: {key} max |diff| {d:e}, margin max |diff| {dm:e}");
            // Relative to the value for large regression outputs, where float summation order
            // alone moves the last digits.
            let scale = lib
                .f32s
                .iter()
                .chain(&m.f32s)
                .fold(1f32, |a, v| a.max(v.abs()));
            if d > 1e-5 * scale || dm > 1e-5 * scale {
                failures.push(format!("{file}: {key} {d:e}, margin {dm:e}"));
            }
            n += 1;
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(n > 0);
}

#[test]
fn onnx_exports_match_the_libraries() {
    let Some(cases) = manifest() else { return };
    for case in cases.iter().filter(|c| c["kind"] == "onnx") {
        let f = load_onnx(case);
        let Some((key, lib)) = lib_scores(case, f.output_width()) else {
            continue;
        };
        let x = array(case, "x").unwrap();
        let (ours, _) = run(&f, &x);
        if ours.len() != lib.f32s.len() {
            continue; // e.g. a regressor whose ONNX output is a margin while the library gives values
        }
        let diffs: Vec<f32> = ours
            .iter()
            .zip(&lib.f32s)
            .map(|(a, b)| (a - b).abs() / b.abs().max(1.0))
            .collect();
        let far = diffs.iter().filter(|&&d| d > 1e-4).count();
        let max = diffs.iter().copied().fold(0.0, f32::max);
        println!(
            "{}: vs {key}: max relative diff {max:e}, {far} of {} values beyond 1e-4",
            case["name"],
            diffs.len()
        );
        // Exporters round double thresholds to float, so a row sitting on a threshold may
        // legitimately take the other branch; more than 1% would be a real disagreement.
        assert!(
            far * 100 <= diffs.len(),
            "{}: {far} values differ from {key}",
            case["name"]
        );
    }
}
