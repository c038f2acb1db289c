#!/usr/bin/env bash
# The main job: set up, build the runtime (release), and serve the bundled examples on
# 127.0.0.1:8080 (override with --listen or PREDICTOR_LISTEN; extra arguments go to
# `predictor serve`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
printf '==> %s\n' "building the predictor runtime (release)" >&2
cargo build --release --quiet -p predictor-runtime
exec target/release/predictor serve \
  --deploy examples/iris-onnx --deploy examples/rust-predictor --deploy examples/multi-model \
  --deploy examples/python-iris --deploy examples/python-transformer --deploy examples/python-sentiment \
  --deploy examples/xgboost-loans --deploy examples/keras-digits "$@"
