//! Shared helpers of the integration tests: the generated fixtures (see scripts/make.py),
//! raw little-endian arrays as tract tensors, and the comparison against TensorFlow's outputs.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use serde_json::Value;
use tract_tensorflow::tract_hir::internal::*;

pub const TOLERANCE: f32 = 1e-4;

pub fn fixtures() -> PathBuf {
    let dir = std::env::var_os("TF_NATIVE_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../target/tf-fixtures")
                .to_path_buf()
        });
    assert!(
        dir.join("manifest.json").exists(),
        "no fixtures in {}: run scripts/setup.sh (it runs tf-native/scripts/make.py with tensorflow-cpu)",
        dir.display()
    );
    dir
}

pub fn manifest() -> Value {
    let text = std::fs::read_to_string(fixtures().join("manifest.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

pub fn case(name: &str) -> Value {
    manifest()["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["case"] == name)
        .unwrap_or_else(|| panic!("case {name} missing from the manifest: rerun make.py"))
        .clone()
}

/// Reads an array described by the manifest (`file`, `dtype`, `shape`) from `data/CASE/`.
pub fn array(case: &str, desc: &Value) -> Tensor {
    let path = fixtures()
        .join("data")
        .join(case)
        .join(desc["file"].as_str().unwrap());
    let bytes = std::fs::read(&path).unwrap();
    let shape: Vec<usize> = desc["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap() as usize)
        .collect();
    let dt = match desc["dtype"].as_str().unwrap() {
        "float32" => DatumType::F32,
        "int32" => DatumType::I32,
        "int64" => DatumType::I64,
        other => panic!("fixture dtype {other}"),
    };
    unsafe { Tensor::from_raw_dt(dt, &shape, &bytes).unwrap() }
}

/// Max absolute difference, and whether the row-wise argmax agrees everywhere.
pub fn compare(ours: &Tensor, theirs: &Tensor) -> (f32, bool) {
    assert_eq!(ours.shape(), theirs.shape(), "output shapes differ");
    let a = ours.cast_to::<f32>().unwrap();
    let b = theirs.cast_to::<f32>().unwrap();
    let a = a.try_as_plain_ram().unwrap();
    let b = b.try_as_plain_ram().unwrap();
    let (a, b) = (a.as_slice::<f32>().unwrap(), b.as_slice::<f32>().unwrap());
    let diff = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max);
    let row = *theirs.shape().last().unwrap_or(&1);
    let argmax = |s: &[f32]| {
        s.iter()
            .enumerate()
            .fold((0, f32::MIN), |m, (i, &v)| if v > m.1 { (i, v) } else { m })
            .0
    };
    let same = row == 0
        || a.chunks(row)
            .zip(b.chunks(row))
            .all(|(x, y)| argmax(x) == argmax(y));
    (diff, same)
}

/// A private copy of a fixture model directory.
pub fn copy_fixture(case: &str, tag: &str) -> PathBuf {
    let src = fixtures().join(case).join("1");
    let dst = std::env::temp_dir().join(format!("tf-native-{}-{case}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dst);
    for sub in ["", "variables"] {
        std::fs::create_dir_all(dst.join(sub)).unwrap();
        for entry in std::fs::read_dir(src.join(sub)).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_file() {
                std::fs::copy(entry.path(), dst.join(sub).join(entry.file_name())).unwrap();
            }
        }
    }
    dst
}

/// Rewrites `file` of a model directory in place.
pub fn edit(dir: &Path, file: &str, f: impl FnOnce(&mut Vec<u8>)) {
    let path = dir.join(file);
    let mut bytes = std::fs::read(&path).unwrap();
    f(&mut bytes);
    std::fs::write(path, bytes).unwrap();
}
