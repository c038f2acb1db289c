#!/usr/bin/env bash
# Sets up and runs every check: formatting, lints (warnings are errors), unit tests and the
# integration tests (real components built from source, a real server on a real socket).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
stamp=.venv/.requirements-test.sha256
if [ ! -f "$stamp" ] || ! sha256sum --status -c "$stamp"; then
  printf '==> installing the protocol clients (tritonclient, kserve) into .venv\n' >&2
  .venv/bin/pip install --quiet --disable-pip-version-check -r scripts/requirements-test.txt
  sha256sum scripts/requirements-test.txt > "$stamp"
fi
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
printf '==> protocol clients from PyPI against the real binary\n' >&2
cargo build --quiet -p predictor-runtime
.venv/bin/python -m pytest -q tests/clients
