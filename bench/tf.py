"""The tf section of the bench (`scripts/bench.sh --sections tf`): the Keras examples
(examples/keras-digits, a CNN; examples/keras-churn, an MLP) served natively, against the peer
users would pick today, TensorFlow in Python behind KServe's model server.

1. Per-batch compute, no HTTP: our deployment's graph stage (target/release/examples/tf_call)
   against TensorFlow's own `serving_default` signature call from Python (bench/tf_call.py,
   .venv-tf), batches of 1 and 32, in alternating rounds; the ratio ours / TensorFlow.
2. Over HTTP, V1 :predict with 1 or 32 instances per request, at c=1 and c=32 (wrk): our
   server against bench/kserve_tf_peer.py (one KServe worker, TensorFlow). Neither batches
   requests (the example's own batcher is left out of the copy deployed here).
3. Cold start of the CNN from zero to its first answer (target/release/examples/cold_start on
   examples/keras-digits: the graph unloaded, then loaded again by a request).
"""

import json
import os
import shutil
import subprocess
import sys

from common import OURS_PORT, PEER_PORT, ROOT, post_once, serve, wait_ready, wrk

TF_PYTHON = os.path.join(ROOT, ".venv-tf/bin/python")
EXAMPLES = {"digits": "examples/keras-digits", "churn": "examples/keras-churn"}
LABELS = {"digits": "CNN (keras-digits)", "churn": "MLP (keras-churn)"}
ROUNDS = 3
mid = lambda values: sorted(values)[len(values) // 2]  # noqa: E731


def tf_section(seconds, threads, cold_cycles):
    result = {"per_batch": per_batch(), "http": over_http(seconds, threads), "cold": cold(cold_cycles)}
    out = os.path.join(ROOT, "target/bench/tf.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump(result, f, indent=2)


def run_lines(args, python=False):
    env = {**os.environ, "PREDICTOR_LOG": "warn", "TF_CPP_MIN_LOG_LEVEL": "2"}
    out = subprocess.run(args, cwd=os.path.join(ROOT, "bench") if python else ROOT, capture_output=True,
                         text=True, check=True, env=env).stdout
    return {(r["deployment"], r["batch"]): r for r in map(json.loads, (x for x in out.splitlines() if x.startswith("{")))}


def per_batch():
    specs = [f"{name}={os.path.join(ROOT, d, 'model')}" for name, d in EXAMPLES.items()]
    ours_cmd = [os.path.join(ROOT, "target/release/examples/tf_call"), os.path.join(ROOT, "target/bench/data"),
                *(os.path.join(ROOT, d) for d in EXAMPLES.values())]
    tf_rounds, ours_rounds = [], []
    for _ in range(ROUNDS):
        tf_rounds.append(run_lines([TF_PYTHON, "tf_call.py", *specs], python=True))
        ours_rounds.append(run_lines(ours_cmd))
    print(f"\ntf, per-batch compute (no HTTP), {ROUNDS} alternating rounds of (TensorFlow, ours), medians of "
          "the rounds: ours = the deployment's graph stage (NativeModel::run behind its core gate), TensorFlow "
          "2.21 = the loaded serving_default signature called from Python with a tf.constant, output to numpy; "
          "5,000 calls (batch 1) or 500 (batch 32) each, medians\n")
    print("| model | batch | TensorFlow µs | ours µs | ours / TensorFlow, per round |")
    print("|---|---|---|---|---|")
    rows = []
    for key in tf_rounds[0]:
        theirs = [r[key]["median_us"] for r in tf_rounds]
        ours = [r[key]["median_us"] for r in ours_rounds]
        row = {"model": key[0], "batch": key[1], "tf_us": mid(theirs), "ours_us": mid(ours),
               "ratio": mid(ours) / mid(theirs), "ratio_rounds": [o / t for o, t in zip(ours, theirs)]}
        rows.append(row)
        spread = ", ".join(f"{x:.2f}" for x in row["ratio_rounds"])
        print(f"| {LABELS[key[0]]} | {key[1]} | {row['tf_us']:.1f} | {row['ours_us']:.1f} "
              f"| **{row['ratio']:.2f}x** ({spread}) |")
    worst = max(rows, key=lambda r: r["ratio"])
    print(f"\nworst: {LABELS[worst['model']]} batch {worst['batch']}: {worst['ratio']:.2f}x TensorFlow's "
          "in-process call (target ≤ 1.5x)")
    return rows


def bench_copies():
    """The examples as deployed here: their definition without the batcher, their model copied."""
    out = os.path.join(ROOT, "target/bench/tf-deployments")
    shutil.rmtree(out, ignore_errors=True)
    dirs = []
    for name, d in EXAMPLES.items():
        dst = os.path.join(out, name)
        os.makedirs(dst)
        with open(os.path.join(ROOT, d, "deployment.json")) as f:
            definition = json.load(f)
        definition.pop("inference_batcher", None)
        with open(os.path.join(dst, "deployment.json"), "w") as f:
            json.dump(definition, f)
        shutil.copytree(os.path.join(ROOT, d, "model"), os.path.join(dst, "model"))
        dirs.append(dst)
    return dirs


def bodies(name):
    with open(os.path.join(ROOT, EXAMPLES[name], "request.json")) as f:
        instances = json.load(f)["instances"]
    return {b: json.dumps({"instances": [instances[i % len(instances)] for i in range(b)]}) for b in (1, 32)}


def over_http(seconds, threads):
    port = OURS_PORT + 14
    server = serve(port, bench_copies(), os.path.join(ROOT, "target/bench/data"))
    peer = subprocess.Popen(
        [TF_PYTHON, os.path.join(ROOT, "bench/kserve_tf_peer.py"), "--http_port", str(PEER_PORT),
         *(f"{name}={os.path.join(ROOT, d, 'model')}" for name, d in EXAMPLES.items())],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    runs = []
    try:
        for name in EXAMPLES:
            wait_ready(f"http://127.0.0.1:{PEER_PORT}/v1/models/{name}")
        for name in EXAMPLES:
            for batch, body in bodies(name).items():
                urls = {"ours": f"http://127.0.0.1:{port}/v1/models/{name}:predict",
                        "KServe + TF": f"http://127.0.0.1:{PEER_PORT}/v1/models/{name}:predict"}
                for who, url in urls.items():
                    answer = post_once(url, body)["predictions"]
                    assert len(answer) == batch, f"{who} {name}: {len(answer)} predictions for {batch}"
                    for c in (1, 32):
                        # 60 s: the peer's batch-32 answers at c=32 queue for seconds.
                        wrk(url, body, c, 1, 1 if c == 1 else threads, timeout_s=60)
                        r = wrk(url, body, c, seconds, 1 if c == 1 else threads, timeout_s=60)
                        runs.append({"model": name, "batch": batch, "server": who, "concurrency": c, **r})
    finally:
        for p in (server, peer):
            p.terminate()
            p.wait(timeout=30)
    print(f"\ntf over HTTP: V1 :predict, batch = instances per request, wrk on the same box, {seconds} s per run "
          f"({threads} wrk threads at c=32); the KServe peer is one worker (kserve 0.21, TensorFlow 2.21)\n")
    print("| model | batch | conc. | ours req/s | ours p50 ms | KServe+TF req/s | KServe+TF p50 ms | throughput ratio |")
    print("|---|---|---|---|---|---|---|---|")
    find = lambda m, b, s, c: next(r for r in runs if (r["model"], r["batch"], r["server"], r["concurrency"]) == (m, b, s, c))  # noqa: E731
    for name in EXAMPLES:
        for batch in (1, 32):
            for c in (1, 32):
                o, p = find(name, batch, "ours", c), find(name, batch, "KServe + TF", c)
                ratio = f"**{o['rps'] / p['rps']:.1f}x**" if p["rps"] else "peer answered nothing in time"
                print(f"| {LABELS[name]} | {batch} | {c} | {o['rps']:,.0f} | {o['p50_ms']:.3f} | {p['rps']:,.0f} "
                      f"| {p['p50_ms']:.3f} | {ratio} |")
    return runs


def cold(cycles):
    out = subprocess.run([os.path.join(ROOT, "target/release/examples/cold_start"), os.path.join(ROOT, "target/bench/data"),
                          str(cycles), os.path.join(ROOT, EXAMPLES["digits"])],
                         cwd=ROOT, capture_output=True, text=True, check=True, env={**os.environ, "PREDICTOR_LOG": "warn"}).stdout
    r = next(json.loads(line) for line in out.splitlines() if line.startswith("{"))
    print(f"\ntf cold start: {LABELS['digits']} at zero (graph unloaded) to its first answer of request.json, "
          f"{cycles} cycles: p50 {r['cold_start']['p50_ms']:.2f} ms, p99 {r['cold_start']['p99_ms']:.2f} ms "
          f"(target p50 ≤ 20 ms); first deploy {r['first_deploy_ms']:.1f} ms", file=sys.stdout)
    return r
