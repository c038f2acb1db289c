#!/usr/bin/env bash
# Sets up and runs every check: formatting, lints (warnings are errors), unit tests and the
# integration tests (real components built from source, a real server on a real socket), then
# the protocols' own clients from PyPI (tritonclient, kserve) against the real binary. The
# inference log tests run a real Kafka-protocol broker (tansu, installed here when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
. scripts/lib.sh
venv_install scripts/requirements-test.txt
say "cargo fmt --check"
cargo fmt --all -- --check
say "cargo clippy"
cargo clippy --quiet --all-targets -- -D warnings
if ! cargo nextest --version >/dev/null 2>&1; then
  say "installing cargo-nextest"
  cargo install --locked cargo-nextest
fi
if ! command -v tansu >/dev/null 2>&1 && [ ! -x "${CARGO_HOME:-$HOME/.cargo}/bin/tansu" ]; then
  say "installing tansu, a Kafka-compatible broker for the inference log tests (builds once, ~10 min)"
  cargo install --locked tansu --version 0.6.0 --features dynostore
fi
say "cargo nextest run"
cargo nextest run --no-fail-fast
say "protocol clients from PyPI against the real binary"
cargo build --quiet -p predictor-runtime
.venv/bin/python -m pytest -q tests/clients
