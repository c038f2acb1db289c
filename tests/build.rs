//! Builds every guest the tests run (the examples and the small hostile test guests) for
//! `wasm32-wasip2`, from source, and tells the tests where the components are.
//!
//! Like wasmtime's test-programs artifacts crate: a nested `cargo build` into its own target
//! folder (`target/guests`, shared with `scripts/setup.sh`), then one constant per guest in
//! `$OUT_DIR/guests.rs`.

use std::path::PathBuf;
use std::process::Command;

/// (crate name, constant name) of every guest the tests need.
const GUESTS: &[(&str, &str)] = &[
    ("iris-naive-bayes", "IRIS_NAIVE_BAYES"),
    ("iris-ensemble", "IRIS_ENSEMBLE"),
    ("guest-panics", "PANICS"),
    ("guest-malformed-output", "MALFORMED_OUTPUT"),
    ("guest-sandbox-probe", "SANDBOX_PROBE"),
    ("guest-init-fails", "INIT_FAILS"),
    ("guest-hog", "HOG"),
    ("guest-rows", "ROWS"),
];

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir.parent().unwrap().to_path_buf();
    for dir in [
        "wit",
        "guest-sdk",
        "examples/rust-predictor/src",
        "examples/multi-model/src",
        "tests/guests",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    let target_dir = root.join("target/guests");
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(&root)
        .args([
            "build",
            "--target",
            "wasm32-wasip2",
            "--profile",
            "guest",
            "--target-dir",
        ])
        .arg(&target_dir);
    for (name, _) in GUESTS {
        cmd.args(["-p", name]);
    }
    // The outer build's flags are for the host, not for wasm.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
        "RUSTC_WORKSPACE_WRAPPER",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd
        .status()
        .expect("running cargo to build the test guests");
    assert!(
        status.success(),
        "building the guests failed; is the wasm32-wasip2 target installed? (`rustup target add wasm32-wasip2`, done by scripts/setup.sh)"
    );
    let mut consts = String::new();
    for (name, constant) in GUESTS {
        let path = target_dir
            .join("wasm32-wasip2/guest")
            .join(format!("{}.wasm", name.replace('-', "_")));
        assert!(path.exists(), "{} was not built", path.display());
        consts.push_str(&format!(
            "/// The `{name}` component.\npub const {constant}: &str = {:?};\n",
            path.display().to_string()
        ));
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("guests.rs");
    std::fs::write(out, consts).unwrap();
}
