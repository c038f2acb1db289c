"""The batching section: MLP classifiers at concurrency 64 with batching off vs on, in one
server, alternating wrk runs; the KServe Python peer (onnxruntime) off vs on with its own
batcher's settings on the same models; and what one row costs each model alone vs in a batch
(target/release/examples/model_rows), the ceiling any batcher reaches on this machine.

Two models made by examples/models/make_models.py: the 784-512-512-10 MLP (2.6 MB of
weights: they stay in this CPU's cache, so one row alone is already cheap) and a wide
784-4096-4096-10 one (80 MB: each lone row streams its weights from memory).

Then a transformer's stages batched (`transformer.inference_batcher`): the python-transformer
example (a Python Transformer in front of the iris graph), one flower per request, its
transformer batcher off vs on, alternating in one server.
"""

import json
import os
import random
import shutil
import subprocess
import sys
import tempfile

from common import OURS_PORT, PEER_PORT, ROOT, metric_sum, serve, wait_ready, wrk

MODELS = [("mlp_784.onnx", "784-512-512-10"), ("mlp_784_4096.onnx", "784-4096-4096-10")]
MAX_BATCH_SIZE, MAX_LATENCY_MS, CONCURRENCY = 32, 5, 64


def row_cost(model):
    """Microseconds per row alone and in batches of MAX_BATCH_SIZE."""
    out = subprocess.run(
        [os.path.join(ROOT, "target/release/examples/model_rows"), model, "784", str(MAX_BATCH_SIZE)],
        capture_output=True, text=True, check=True,
    ).stdout
    return json.loads(out)["us_per_row"]


def deployment(into, name, model, batcher):
    d = os.path.join(into, name)
    os.makedirs(d)
    shutil.copy(model, os.path.join(d, "model.onnx"))
    definition = {"name": name, "model_file": "model.onnx",
                  "resources": {"requests": {"cores": 0.2, "memory": 64}, "limits": {"cores": 2, "memory": 1024}}}
    if batcher:
        definition["inference_batcher"] = {"enabled": True, "max_batch_size": MAX_BATCH_SIZE,
                                           "max_latency": MAX_LATENCY_MS}
    with open(os.path.join(d, "deployment.json"), "w") as f:
        json.dump(definition, f)
    return d


def peer(model, batching, seconds, threads, body):
    args = [sys.executable, os.path.join(ROOT, "bench/kserve_peer.py"), "--onnx", model, "--name", "mlp",
            "--http_port", str(PEER_PORT)]
    if batching:
        args += ["--max-batch-size", str(MAX_BATCH_SIZE), "--max-latency-ms", str(MAX_LATENCY_MS)]
    p = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(f"http://127.0.0.1:{PEER_PORT}/v1/models/mlp")
        url = f"http://127.0.0.1:{PEER_PORT}/v1/models/mlp:predict"
        wrk(url, body, CONCURRENCY, 2, threads)
        return wrk(url, body, CONCURRENCY, seconds, threads)
    finally:
        p.terminate()
        p.wait(timeout=20)


def batching(seconds, threads, rounds=3):
    rng = random.Random(0)
    body = json.dumps({"instances": [[round(rng.random(), 4) for _ in range(784)]]})
    port = OURS_PORT + 13
    report = {}
    print(f"\nbatching: MLP classifiers (ONNX, native), V1 :predict of one 784-feature instance, wrk "
          f"c={CONCURRENCY} ({threads} thread(s)); batcher max_batch_size {MAX_BATCH_SIZE}, max_latency "
          f"{MAX_LATENCY_MS} ms; ours: {rounds} alternating rounds of {seconds} s per mode in one server "
          f"(medians); peer: KServe 0.21 + onnxruntime, one run per mode\n")
    print("| model | server | batching | requests/s | p50 ms | p99 ms | on vs off | rows per batch |")
    print("|---|---|---|---|---|---|---|---|")
    for file, label in MODELS:
        model = os.path.join(ROOT, "target/example-models", file)
        cost = row_cost(model)
        results = {"off": [], "on": []}
        with tempfile.TemporaryDirectory() as tmp:
            dirs = [deployment(tmp, "mlp-off", model, False), deployment(tmp, "mlp-on", model, True)]
            server = serve(port, dirs, os.path.join(ROOT, "target/bench/data"))
            try:
                for mode in ("off", "on"):
                    wrk(f"http://127.0.0.1:{port}/v1/models/mlp-{mode}:predict", body, CONCURRENCY, 2, threads)
                batches_before = metric_sum(port, "predictor_batch_size_count")
                rows_before = metric_sum(port, "predictor_batch_size_sum")
                for _ in range(rounds):
                    for mode in ("off", "on"):
                        results[mode].append(wrk(f"http://127.0.0.1:{port}/v1/models/mlp-{mode}:predict",
                                                 body, CONCURRENCY, seconds, threads))
                batches = metric_sum(port, "predictor_batch_size_count") - batches_before
                rows = metric_sum(port, "predictor_batch_size_sum") - rows_before
            finally:
                server.terminate()
                server.wait(timeout=30)
        peers = {mode: peer(model, mode == "on", seconds, threads, body) for mode in ("off", "on")}
        med = lambda rs, k: sorted(r[k] for r in rs)[len(rs) // 2]
        ours = {mode: {k: med(results[mode], k) for k in ("rps", "p50_ms", "p99_ms")} for mode in ("off", "on")}
        for name, r, per_batch in [("ours", ours, rows / max(batches, 1)), ("KServe peer", peers, None)]:
            for mode in ("off", "on"):
                ratio = f"{r['on']['rps'] / r['off']['rps']:.2f}x" if mode == "on" else ""
                size = f"{per_batch:.1f}" if per_batch and mode == "on" else ""
                print(f"| {label} | {name} | {mode} | {r[mode]['rps']:,.0f} | {r[mode]['p50_ms']:.2f} | "
                      f"{r[mode]['p99_ms']:.2f} | {ratio} | {size} |")
        report[label] = {"ours": ours, "ours_runs": results, "peer": peers, "us_per_row": cost,
                         "rows_per_batch": rows / max(batches, 1)}
    print()
    for label, r in report.items():
        alone, batched = r["us_per_row"]["1"], r["us_per_row"][str(MAX_BATCH_SIZE)]
        print(f"{label}: the graph alone costs {alone:.1f} us per row at batch 1 and {batched:.1f} at batch "
              f"{MAX_BATCH_SIZE}: batching can at most multiply its throughput by {alone / batched:.1f}; "
              f"ours {r['ours']['on']['rps'] / r['ours']['off']['rps']:.2f}x with p99 "
              f"{r['ours']['on']['p99_ms']:.2f} ms (max_latency + 2 = {MAX_LATENCY_MS + 2} ms), "
              f"ours on vs the peer on: {r['ours']['on']['rps'] / r['peer']['on']['rps']:.1f}x")
    report["transformer"] = transformer_batching(seconds, threads, rounds)
    with open(os.path.join(ROOT, "target/bench/batching.json"), "w") as f:
        json.dump(report, f, indent=2)


def transformer_batching(seconds, threads, rounds):
    """The python-transformer example with its transformer's stages batched or not."""
    src = os.path.join(ROOT, "examples/python-transformer")
    with open(os.path.join(src, "request.json")) as f:
        body = json.dumps({"instances": json.load(f)["instances"][:1]})
    port = OURS_PORT + 14
    results = {"off": [], "on": []}
    with tempfile.TemporaryDirectory() as tmp:
        dirs = []
        for mode in ("off", "on"):
            d = os.path.join(tmp, mode)
            shutil.copytree(src, d)
            with open(os.path.join(d, "deployment.json")) as f:
                definition = json.load(f)
            definition["name"] = f"named-{mode}"
            if mode == "on":
                definition["transformer"]["inference_batcher"] = {
                    "enabled": True, "max_batch_size": MAX_BATCH_SIZE, "max_latency": MAX_LATENCY_MS}
            with open(os.path.join(d, "deployment.json"), "w") as f:
                json.dump(definition, f)
            dirs.append(d)
        server = serve(port, dirs, os.path.join(ROOT, "target/bench/data"))
        try:
            for mode in ("off", "on"):
                wrk(f"http://127.0.0.1:{port}/v1/models/named-{mode}:predict", body, CONCURRENCY, 2, threads)
            for _ in range(rounds):
                for mode in ("off", "on"):
                    results[mode].append(wrk(f"http://127.0.0.1:{port}/v1/models/named-{mode}:predict",
                                             body, CONCURRENCY, seconds, threads))
            calls = metric_sum(port, "predictor_batch_size_count")
            rows = metric_sum(port, "predictor_batch_size_sum")
        finally:
            server.terminate()
            server.wait(timeout=30)
    med = lambda rs, k: sorted(r[k] for r in rs)[len(rs) // 2]
    r = {mode: {k: med(results[mode], k) for k in ("rps", "p50_ms", "p99_ms")} for mode in ("off", "on")}
    print(f"\ntransformer batching: examples/python-transformer (Python Transformer + iris graph), one "
          f"flower per V1 request, wrk c={CONCURRENCY}; transformer batcher max_batch_size {MAX_BATCH_SIZE}, "
          f"max_latency {MAX_LATENCY_MS} ms; {rounds} alternating rounds of {seconds} s (medians)\n")
    print("| transformer batching | requests/s | p50 ms | p99 ms | on vs off | rows per stage call |")
    print("|---|---|---|---|---|---|")
    for mode in ("off", "on"):
        ratio = f"{r['on']['rps'] / r['off']['rps']:.2f}x" if mode == "on" else ""
        size = f"{rows / max(calls, 1):.1f}" if mode == "on" else "1"
        print(f"| {mode} | {r[mode]['rps']:,.0f} | {r[mode]['p50_ms']:.2f} | {r[mode]['p99_ms']:.2f} | {ratio} | {size} |")
    return {"results": results, "medians": r, "rows_per_call": rows / max(calls, 1)}
