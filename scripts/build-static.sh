#!/usr/bin/env bash
# One static binary for edge nodes: the runtime built for x86_64-unknown-linux-musl
# (static-pie, no shared library at all: librdkafka, OpenSSL and mimalloc are compiled in),
# stripped, at target/static/predictor. Python scripts still need componentize-py where they
# are deployed (or deploy components built elsewhere with `predictor build`).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
target=x86_64-unknown-linux-musl
if ! command -v musl-gcc >/dev/null 2>&1; then
  say "installing musl-tools (the C side of the static build)"
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq musl-tools; else sudo apt-get install -y -qq musl-tools; fi
fi
if ! rustup target list --installed | grep -qx "$target"; then
  say "adding the $target Rust target"
  rustup target add "$target"
fi
say "building the predictor runtime for $target (release)"
cargo build --release --quiet --target "$target" -p predictor-runtime --bin predictor
mkdir -p target/static
cp "target/$target/release/predictor" target/static/predictor
strip target/static/predictor
file target/static/predictor
ls -lh target/static/predictor
