#!/usr/bin/env bash
# The bench command: sets up (the runtime in release, wrk, the KServe peer in the venv) and
# measures our server against KServe's Python model server in one run, then cold starts,
# memory at zero and overload. Arguments go to bench/run.py (--seconds N, --concurrency 1,32,
# --sections core,cold,zero,overload,logging,batching,trees,tf; ab with --baseline BINARY).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
. scripts/lib.sh
if ! command -v wrk >/dev/null 2>&1; then
  say "installing wrk"
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq wrk; else sudo apt-get install -y -qq wrk; fi
fi
venv_install scripts/requirements-bench.txt
# The tf section's peer: KServe with TensorFlow, in the TensorFlow venv.
venv_install scripts/requirements-tf-bench.txt .venv-tf
# The trees section's models, made again only when their maker or its pins change.
stamp=target/bench-models/.stamp.sha256
if [ ! -f "$stamp" ] || ! sha256sum --status -c "$stamp"; then
  say "training and exporting the trees section's models (target/bench-models)"
  rm -rf target/bench-models
  .venv/bin/python bench/tree_models.py target/bench-models
  sha256sum bench/tree_models.py scripts/requirements-bench.txt scripts/requirements-models.txt > "$stamp"
fi
if ! have_tansu; then
  say "installing tansu, a Kafka-compatible broker for the inference logging run (builds once)"
  install_tansu
fi
say "building the predictor runtime (release)"
cargo build --release --quiet -p predictor-runtime --bin predictor --example cold_start --example overload --example model_rows \
  --example tree_call --example tf_call
# The overload run's slow guest (a test guest, built from source like the examples).
cargo build --quiet --target wasm32-wasip2 --profile guest --target-dir target/guests -p guest-hog
exec .venv/bin/python bench/run.py "$@"
