"""The trees section of the bench (`scripts/bench.sh --sections trees`): tree ensembles served
natively, on the models of bench/tree_models.py (target/bench-models/).

1. Per-call compute, no HTTP: `NativeModel::run` (target/release/examples/tree_call) on each
   model's ONNX export and on the library's own file, against onnxruntime's
   `InferenceSession.run` on the same ONNX file minus its call overhead (bench/ort_call.py),
   batches of 1 and 64 rows; the ratio ours / onnxruntime per (model, form, batch).
2. Over HTTP: one server serving RF-100 and the iris logistic regression (examples/iris-onnx),
   c=1 in alternating rounds, p50 of each; then RF-100 at c=32 on our server against the
   KServe Python peer serving the same forest with scikit-learn through the Hopsworks script
   examples/python-iris/predictor_sklearn.py.
"""

import json
import os
import subprocess
import sys

from common import OURS_PORT, PEER_PORT, ROOT, post_once, serve, wait_ready, wrk
from ort_call import measure as ort_measure

MODELS = os.path.join(ROOT, "target/bench-models")
ROUNDS = 3
BODY = json.dumps({"instances": [[5.1, 3.5, 1.4, 0.2]]})


def trees(seconds, threads):
    calls = per_call()
    http = over_http(seconds, threads)
    out = os.path.join(ROOT, "target/bench/trees.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump({"per_call": calls, "http": http}, f, indent=2)


def per_call():
    """ROUNDS rounds of (onnxruntime, ours), each a median of many calls; medians of the rounds,
    so drift on this machine between the two processes falls on both."""
    ort_rounds, ours_rounds = [], []
    for _ in range(ROUNDS):
        ort_rounds.append(ort_measure(MODELS))
        out = subprocess.run([os.path.join(ROOT, "target/release/examples/tree_call"), MODELS],
                             cwd=ROOT, capture_output=True, text=True, check=True,
                             env={**os.environ, "PREDICTOR_LOG": "warn"}).stdout
        ours_rounds.append([json.loads(line) for line in out.splitlines() if line.startswith("{")])
    mid = lambda values: sorted(values)[len(values) // 2]  # noqa: E731
    ort = {}
    for r in ort_rounds[0]:
        key = (r["model"], r["batch"], r["threads"])
        same = [next(x for x in rs if (x["model"], x["batch"], x["threads"]) == key) for rs in ort_rounds]
        ort[key] = {k: mid([x[k] for x in same]) for k in ("run_us", "identity_us", "compute_us")}
        ort[key]["compute_rounds_us"] = [x["compute_us"] for x in same]
    print(f"\ntrees, per-call compute (no HTTP), {ROUNDS} rounds of (onnxruntime, ours), medians of the "
          "rounds: ours = NativeModel::run on the file named, median of 20,000 calls (batch 1) or 2,000 "
          "(batch 64), input tensor moved in, outputs dropped; onnxruntime 1.23 = InferenceSession.run "
          "on the model.onnx from Python, median, minus the median run of an Identity graph with the "
          "same input made in turn with it (the call overhead); both on 1 thread, and both allowed every "
          "core (onnxruntime's default; ours as the server runs a batch when the deployment's other "
          "cores are free)\n")
    print("| model | ours: file | batch | ours µs, 1 thread | onnxruntime 1 thread: run − overhead = compute µs "
          "| ours / onnxruntime (1 thread), per round | ours µs, all cores | onnxruntime default: compute µs "
          "| ours / onnxruntime (all cores) |")
    print("|---|---|---|---|---|---|---|---|---|")
    rows = []
    for r in (r for r in ours_rounds[0] if r["threads"] == 1):
        def ours_at(threads):
            key = (r["model"], r["file"], r["batch"], threads)
            return [next(x for x in rs if (x["model"], x["file"], x["batch"], x["threads"]) == key)["median_us"]
                    for rs in ours_rounds]
        times, times_all = ours_at(1), ours_at("default")
        ours, ours_all = mid(times), mid(times_all)
        one, default = ort[(r["model"], r["batch"], 1)], ort[(r["model"], r["batch"], "default")]
        row = {"model": r["model"], "file": r["file"], "batch": r["batch"], "ours_us": ours, "ours_rounds_us": times,
               "ours_all_cores_us": ours_all, "ours_all_cores_rounds_us": times_all,
               "ort_1_thread": one, "ort_default": default, "ratio_1_thread": ours / one["compute_us"],
               "ratio_default": ours_all / default["compute_us"],
               "ratio_1_thread_rounds": [t / c for t, c in zip(times, one["compute_rounds_us"])]}
        rows.append(row)
        spread = ", ".join(f"{x:.2f}" for x in row["ratio_1_thread_rounds"])
        print(f"| {r['model']} | {r['file']} | {r['batch']} | {ours:.2f} "
              f"| {one['run_us']:.2f} − {one['identity_us']:.2f} = {one['compute_us']:.2f} "
              f"| **{row['ratio_1_thread']:.2f}x** ({spread}) | {ours_all:.2f} | {default['compute_us']:.2f} "
              f"| **{row['ratio_default']:.2f}x** |")
    worst = max(rows, key=lambda r: max(r["ratio_1_thread"], r["ratio_default"]))
    print(f"\nworst ratio: {worst['model']} ({worst['file']}) batch {worst['batch']}: "
          f"{max(worst['ratio_1_thread'], worst['ratio_default']):.2f}x (target ≤ 1.0x)")
    return rows


def over_http(seconds, threads):
    port = OURS_PORT + 13
    data_dir = os.path.join(ROOT, "target/bench/data")
    server = serve(port, [os.path.join(MODELS, "rf100"), os.path.join(ROOT, "examples/iris-onnx")], data_dir)
    peer = subprocess.Popen(
        [sys.executable, os.path.join(ROOT, "bench/kserve_peer.py"), "--http_port", str(PEER_PORT), "--name", "rf100",
         os.path.join(ROOT, "examples/python-iris/predictor_sklearn.py"), os.path.join(MODELS, "rf100-sklearn")],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    ours = {name: f"http://127.0.0.1:{port}/v1/models/{name}:predict" for name in ("iris", "rf100")}
    peer_url = f"http://127.0.0.1:{PEER_PORT}/v1/models/rf100:predict"
    try:
        wait_ready(f"http://127.0.0.1:{PEER_PORT}/v1/models/rf100")
        for name, url in [*ours.items(), ("rf100 (KServe peer)", peer_url)]:  # each answers first
            print(f"{name}: {json.dumps(post_once(url, BODY))}", file=sys.stderr)
        # c=1, alternating rounds: the two p50s differ by tens of µs, less than this
        # machine's drift between runs a minute apart.
        single = {name: [] for name in ours}
        for name, url in ours.items():
            wrk(url, BODY, 1, 1, 1)
        for i in range(ROUNDS):
            order = list(ours.items()) if i % 2 == 0 else list(ours.items())[::-1]
            for name, url in order:
                single[name].append(wrk(url, BODY, 1, seconds, 1))
        loaded = {}
        for name, url in [("rf100", ours["rf100"]), ("rf100 (KServe peer)", peer_url)]:
            wrk(url, BODY, 32, 1, threads)
            loaded[name] = wrk(url, BODY, 32, seconds, threads)
    finally:
        for p in (server, peer):
            p.terminate()
            p.wait(timeout=30)

    med = lambda rs, k: sorted(r[k] for r in rs)[len(rs) // 2]  # noqa: E731
    print(f"\ntrees over HTTP: V1 :predict, one iris instance per request, wrk on the same box; c=1: "
          f"{ROUNDS} alternating rounds of {seconds} s per model in one server (medians); c=32: {seconds} s "
          f"({threads} wrk threads)\n")
    print("| deployment | conc. | requests/s | p50 ms | p99 ms |")
    print("|---|---|---|---|---|")
    labels = {"iris": "iris logistic regression (examples/iris-onnx), ours",
              "rf100": "RF-100 (ONNX), ours", "rf100 (KServe peer)": "RF-100, KServe peer (scikit-learn)"}
    for name, rs in single.items():
        print(f"| {labels[name]} | 1 | {med(rs, 'rps'):,.0f} | {med(rs, 'p50_ms'):.3f} | {med(rs, 'p99_ms'):.3f} |")
    for name, r in loaded.items():
        print(f"| {labels[name]} | 32 | {r['rps']:,.0f} | {r['p50_ms']:.3f} | {r['p99_ms']:.3f} |")
    gap = med(single["rf100"], "p50_ms") - med(single["iris"], "p50_ms")
    ratio = loaded["rf100"]["rps"] / loaded["rf100 (KServe peer)"]["rps"]
    rounds = ", ".join(f"{a['p50_ms'] - b['p50_ms']:+.3f}" for a, b in zip(single["rf100"], single["iris"]))
    print(f"\nRF-100 p50 − iris p50 at c=1: {gap:+.3f} ms (target ≤ 0.03 ms; per round: {rounds}); "
          f"RF-100 at c=32: {ratio:.1f}x the KServe peer's throughput (target ≥ 50x)")
    return {"c1": single, "c32": loaded, "p50_gap_ms": gap, "throughput_vs_peer": ratio}
