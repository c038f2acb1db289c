#!/usr/bin/env bash
# Installs and builds what the examples and tests need. Idempotent: a rerun reuses what is
# already there and only redoes what changed.
#   - the wasm32-wasip2 Rust target (guests are built from source with it)
#   - a Python venv (.venv) with the pinned model-making packages and componentize-py
#   - the example models, trained and exported by examples/models/make_models.py
#   - the tree-ensemble fixtures (target/tree-fixtures), made by tree-ensemble/scripts/make.py
#   - a second venv (.venv-tf) with TensorFlow, and the TensorFlow test models made with it
#     (tf-native/scripts/make.py into target/tf-fixtures) and the Keras examples
#     (examples/models/make_tf_models.py into examples/keras-*/model)
#   - the example predictor components, built from source into examples/*/predictor.wasm
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/lib.sh

if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo is required (https://rustup.rs)" >&2
  exit 1
fi

if ! rustup target list --installed | grep -qx wasm32-wasip2; then
  say "adding the wasm32-wasip2 Rust target"
  rustup target add wasm32-wasip2
fi

if [ ! -x .venv/bin/python ]; then
  say "creating the Python venv (.venv)"
  python3 -m venv .venv
fi
venv_install scripts/requirements-models.txt
venv_install scripts/requirements-guest.txt
stamp=.venv/.requirements-models.txt.sha256

models=(examples/iris-onnx/model.onnx examples/iris-onnx/model.joblib examples/multi-model/logreg.onnx
        examples/python-iris/model.onnx examples/python-iris/model.joblib examples/python-transformer/model.onnx
        examples/multi-model/forest.onnx examples/rust-predictor/gaussian_nb.json target/example-models/reference.json
        target/example-models/logreg_zipmap.onnx target/example-models/mlp.onnx target/example-models/mlp_keras.onnx
        target/example-models/identity_types.onnx target/example-models/bytes_identity.onnx
        target/example-models/linear_svc.onnx
        target/example-models/mlp_784.onnx target/example-models/mlp_784_4096.onnx
        examples/xgboost-loans/model.json)
needs_models=0
for m in "${models[@]}"; do
  if [ ! -f "$m" ] || [ examples/models/make_models.py -nt "$m" ] || [ "$stamp" -nt "$m" ]; then needs_models=1; fi
done
if [ "$needs_models" = 1 ]; then
  say "training and exporting the example models"
  .venv/bin/python examples/models/make_models.py
fi

# The tree-ensemble tests compare the engine with onnxruntime and the libraries on these.
tree_scripts=(tree-ensemble/scripts/make.py tree-ensemble/scripts/fixture_io.py tree-ensemble/scripts/synthetic.py)
tree_manifest=target/tree-fixtures/manifest.json
needs_trees=0
for s in "${tree_scripts[@]}" "$stamp"; do
  if [ ! -f "$tree_manifest" ] || [ "$s" -nt "$tree_manifest" ]; then needs_trees=1; fi
done
if [ "$needs_trees" = 1 ]; then
  say "making the tree-ensemble fixtures (target/tree-fixtures, about a minute)"
  rm -rf target/tree-fixtures
  .venv/bin/python tree-ensemble/scripts/make.py target/tree-fixtures
fi

# TensorFlow pins its own numpy and protobuf, so it gets a venv of its own.
if [ ! -x .venv-tf/bin/python ]; then
  say "creating the TensorFlow venv (.venv-tf)"
  python3 -m venv .venv-tf
fi
venv_install scripts/requirements-tf.txt .venv-tf
tf_fixtures=target/tf-fixtures
if [ ! -f "$tf_fixtures/manifest.json" ] || [ tf-native/scripts/make.py -nt "$tf_fixtures/manifest.json" ] \
   || [ .venv-tf/.requirements-tf.txt.sha256 -nt "$tf_fixtures/manifest.json" ]; then
  say "making the TensorFlow test models (tf-native/scripts/make.py)"
  rm -rf "$tf_fixtures.new"
  .venv-tf/bin/python tf-native/scripts/make.py "$tf_fixtures.new"
  rm -rf "$tf_fixtures"
  mv "$tf_fixtures.new" "$tf_fixtures"
fi
tf_examples=(examples/keras-digits/model/1/saved_model.pb examples/keras-churn/model/1/saved_model.pb
             target/example-models/tf_reference.json)
needs_tf_examples=0
for m in "${tf_examples[@]}"; do
  if [ ! -f "$m" ] || [ examples/models/make_tf_models.py -nt "$m" ] \
     || [ .venv-tf/.requirements-tf.txt.sha256 -nt "$m" ]; then needs_tf_examples=1; fi
done
if [ "$needs_tf_examples" = 1 ]; then
  say "training and exporting the Keras examples (examples/models/make_tf_models.py)"
  .venv-tf/bin/python examples/models/make_tf_models.py
fi

say "building the example predictor components (wasm32-wasip2)"
cargo build --quiet --target wasm32-wasip2 --profile guest --target-dir target/guests \
  -p iris-naive-bayes -p iris-ensemble
cp target/guests/wasm32-wasip2/guest/iris_naive_bayes.wasm examples/rust-predictor/predictor.wasm
cp target/guests/wasm32-wasip2/guest/iris_ensemble.wasm examples/multi-model/predictor.wasm
