#!/usr/bin/env bash
# Sets up and runs every check: formatting, lints (warnings are errors), unit tests and the
# integration tests (real components built from source, a real server on a real socket).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
printf '==> cargo fmt --check\n' >&2
cargo fmt --all -- --check
printf '==> cargo clippy\n' >&2
cargo clippy --quiet --all-targets -- -D warnings
if ! cargo nextest --version >/dev/null 2>&1; then
  printf '==> installing cargo-nextest\n' >&2
  cargo install --locked cargo-nextest
fi
printf '==> cargo nextest run\n' >&2
cargo nextest run --no-fail-fast
