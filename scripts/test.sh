#!/usr/bin/env bash
# Sets up and runs every check: formatting, lints (warnings are errors), unit tests and the
# integration tests (real components built from source, a real server on a real socket), then
# the protocols' own clients from PyPI (tritonclient, kserve) against the real binary. The
# inference log tests run a real Kafka-protocol broker (tansu, installed here when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
say "cargo fmt --check"
cargo fmt --all -- --check

# tansu builds in the background from here to the tests' start: beside the setup (mostly one
# core of Python) and the test build.
tansu_pid=
if ! have_tansu; then
  mkdir -p target
  say "installing tansu, a Kafka-compatible broker for the inference log tests, in the background (target/tansu-install.log)"
  install_tansu >target/tansu-install.log 2>&1 &
  tansu_pid=$!
  trap 'kill "$tansu_pid" 2>/dev/null || true' EXIT
fi
scripts/setup.sh
venv_install scripts/requirements-test.txt
if ! cargo nextest --version >/dev/null 2>&1; then
  say "installing cargo-nextest"
  cargo install --locked cargo-nextest
fi
# Clippy is the compiler of the workspace's own crates in the test build itself (what
# `cargo clippy` does over `cargo check`), so the dependencies are compiled once, not once
# checked and once built (most of a separate check pass is shared with the build anyway:
# build scripts, proc macros, the C libraries; a fresh run here saved about 3 minutes). `cargo test` builds every
# target `clippy --all-targets` checks here (lib and bins, in and out of test mode, the
# integration tests, the bench examples), and any warning fails the build.
if ! rustup which clippy-driver >/dev/null 2>&1; then
  say "adding clippy"
  rustup component add clippy
fi
export RUSTC_WORKSPACE_WRAPPER
RUSTC_WORKSPACE_WRAPPER=$(rustup which clippy-driver)
export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
say "building the tests (clippy -D warnings on the workspace's crates as they build)"
# The same build `cargo nextest run` asks for, and the binary the PyPI clients talk to, done
# first so that tansu's build fills the cores this one leaves idle (its long single-crate
# steps and links).
cargo test --no-run --quiet
cargo build --quiet -p predictor-runtime --bin predictor
if [ -n "$tansu_pid" ]; then
  say "waiting for tansu's build"
  if ! wait "$tansu_pid"; then
    cat target/tansu-install.log >&2
    exit 1
  fi
fi
say "cargo nextest run"
cargo nextest run --no-fail-fast
say "protocol clients from PyPI against the real binary"
.venv/bin/python -m pytest -q tests/clients
