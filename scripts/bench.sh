#!/usr/bin/env bash
# The bench command: sets up (the runtime in release, wrk, the KServe peer in the venv) and
# measures our server against KServe's Python model server in one run.
# Arguments go to bench/run.py (--seconds N, --concurrency 1,32).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
if ! command -v wrk >/dev/null 2>&1; then
  printf '==> installing wrk\n' >&2
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq wrk; else sudo apt-get install -y -qq wrk; fi
fi
stamp=.venv/.requirements-bench.sha256
if [ ! -f "$stamp" ] || ! sha256sum --status -c "$stamp"; then
  printf '==> installing the KServe peer into .venv\n' >&2
  .venv/bin/pip install --quiet --disable-pip-version-check -r scripts/requirements-bench.txt
  sha256sum scripts/requirements-bench.txt > "$stamp"
fi
printf '==> building the predictor runtime (release)\n' >&2
cargo build --release --quiet -p predictor-runtime
exec .venv/bin/python bench/run.py "$@"
