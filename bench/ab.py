"""Our build against an earlier one (`--baseline BINARY`), interleaved: both servers up, each
cell measured in rounds whose order alternates (new then old, old then new), so drift on a
noisy machine (another process, frequency, cache state) falls on both. Prints the median
requests/s and p50 of each build per model and concurrency, and their ratio."""

import json
import os
import statistics
import subprocess

from common import BASELINE_PORT, OURS_PORT, ROOT, scratch_store, wait_ready, wrk

ROUNDS = 4


def med(xs, key):
    return statistics.median(x[key] for x in xs)


def ab(args):
    if not args.baseline:
        raise SystemExit("the ab section needs --baseline BINARY")
    data_dir = os.path.join(ROOT, "target/bench/data")
    builds = [("new", os.path.join(ROOT, "target/release/predictor"), OURS_PORT),
              ("baseline", args.baseline, BASELINE_PORT)]
    procs = [subprocess.Popen(
        [binary, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", data_dir, "--store-dir", scratch_store(),
         "--deploy", "examples/iris-onnx,examples/rust-predictor"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "PREDICTOR_LOG": "warn"},
    ) for _, binary, port in builds]
    body = json.dumps({"instances": [[5.1, 3.5, 1.4, 0.2]]})
    results = {}
    try:
        for _, _, port in builds:
            wait_ready(f"http://127.0.0.1:{port}/v2/health/ready", timeout=300)
        for model in ("iris", "iris-bayes"):
            for c in [int(c) for c in args.concurrency.split(",")]:
                for r in range(ROUNDS):
                    for name, _, port in (builds if r % 2 == 0 else builds[::-1]):
                        url = f"http://127.0.0.1:{port}/v1/models/{model}:predict"
                        if r == 0:
                            wrk(url, body, c, 1, args.threads)  # warm up
                        results.setdefault((model, c, name), []).append(
                            wrk(url, body, c, max(1, args.seconds // 2), args.threads))
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=30)
    print(f"new vs baseline ({args.baseline}), {ROUNDS} interleaved rounds of {max(1, args.seconds // 2)}s per cell, "
          f"V1 :predict, one iris instance per request\n")
    print("| model | conc. | new req/s | baseline req/s | ratio | new p50 ms | baseline p50 ms | new runs | baseline runs |")
    print("|---|---|---|---|---|---|---|---|---|")
    for model in ("iris", "iris-bayes"):
        for c in [int(c) for c in args.concurrency.split(",")]:
            new, old = results[(model, c, "new")], results[(model, c, "baseline")]
            print(f"| {model} | {c} | {med(new, 'rps'):,.0f} | {med(old, 'rps'):,.0f} | {med(new, 'rps') / med(old, 'rps'):.3f} "
                  f"| {med(new, 'p50_ms'):.3f} | {med(old, 'p50_ms'):.3f} "
                  f"| {runs(new)} | {runs(old)} |")


def runs(xs):
    return ", ".join(f"{x['rps']:,.0f}" for x in xs)
