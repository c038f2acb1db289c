"""The bench command's driver (run by scripts/bench.sh): starts our server (release build)
and the KServe Python peer on loopback ports, loads each with wrk at concurrency 1 and 32,
and prints requests/s, p50 and p99 side by side with the ratio to the peer. Then measures
cold starts of component deployments (target/release/examples/cold_start).

The peer serves the Hopsworks-style script examples/python-iris/predictor_sklearn.py
(scikit-learn, joblib); ours serves the same model natively (iris), as a Rust component
(iris-bayes) and as the same script with its one changed line (iris-python).

Every number is measured in one run on this machine; the load generator shares the box.
"""

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OURS_PORT, PEER_PORT = 18080, 18081


def wait_ready(url, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except Exception:
            time.sleep(0.2)
    raise SystemExit(f"{url} not ready after {timeout}s")


def post_once(url, body):
    req = urllib.request.Request(url, data=body.encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.loads(r.read())


def parse_duration_ms(text):
    value, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(url, body, connections, seconds, threads):
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write('wrk.method = "POST"\n')
        f.write('wrk.headers["Content-Type"] = "application/json"\n')
        f.write(f"wrk.body = {json.dumps(body)}\n")
        script = f.name
    threads = min(connections, threads)
    out = subprocess.run(
        ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s", "--latency", "-s", script, url],
        capture_output=True, text=True, check=True,
    ).stdout
    os.unlink(script)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = parse_duration_ms(re.search(r"\s50%\s+(\S+)", out).group(1))
    p99 = parse_duration_ms(re.search(r"\s99%\s+(\S+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors or "Socket errors" in out:
        raise SystemExit(f"errors during the run against {url}:\n{out}")
    return {"rps": rps, "p50_ms": p50, "p99_ms": p99}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--concurrency", default="1,32")
    # wrk shares the box with the server under test: each of its threads takes CPU from our
    # server (the Python peer is bound by its single worker either way).
    ap.add_argument("--threads", type=int, default=2, help="wrk threads (at most the concurrency)")
    ap.add_argument("--cold-cycles", type=int, default=200, help="cold starts measured per deployment")
    args = ap.parse_args()
    concurrencies = [int(c) for c in args.concurrency.split(",")]

    body = json.dumps({"instances": [[5.1, 3.5, 1.4, 0.2]]})
    # Kept between runs: the Python example is componentized and compiled once.
    data_dir = os.path.join(ROOT, "target/bench/data")
    ours = subprocess.Popen(
        [os.path.join(ROOT, "target/release/predictor"), "serve", "--listen", f"127.0.0.1:{OURS_PORT}",
         "--data-dir", data_dir, "--deploy", "examples/iris-onnx,examples/rust-predictor,examples/python-iris"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "PREDICTOR_LOG": "warn"},
    )
    peer = subprocess.Popen(
        [sys.executable, os.path.join(ROOT, "bench/kserve_peer.py"), "--http_port", str(PEER_PORT),
         os.path.join(ROOT, "examples/python-iris/predictor_sklearn.py"), os.path.join(ROOT, "examples/python-iris")],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        wait_ready(f"http://127.0.0.1:{OURS_PORT}/v2/health/ready", timeout=300)
        wait_ready(f"http://127.0.0.1:{PEER_PORT}/v1/models/iris")
        targets = [
            ("ONNX example (native)", f"http://127.0.0.1:{OURS_PORT}/v1/models/iris:predict"),
            ("Rust component example", f"http://127.0.0.1:{OURS_PORT}/v1/models/iris-bayes:predict"),
            ("Python Predict script (componentize-py)", f"http://127.0.0.1:{OURS_PORT}/v1/models/iris-python:predict"),
            ("KServe Python peer (sklearn)", f"http://127.0.0.1:{PEER_PORT}/v1/models/iris:predict"),
        ]
        for name, url in targets:  # each answers before it is measured
            print(f"{name}: {json.dumps(post_once(url, body))}", file=sys.stderr)
        results = {}
        for c in concurrencies:
            for name, url in targets:
                wrk(url, body, c, 1, args.threads)  # warm up connections and caches
                results[(name, c)] = wrk(url, body, c, args.seconds, args.threads)
    finally:
        for p in (ours, peer):
            p.terminate()
            p.wait(timeout=20)

    peer_name = targets[-1][0]
    print(f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, {platform.platform()}; "
          f"wrk ({args.threads} thread(s)) on the same box; {args.seconds}s per cell; V1 :predict, one iris instance per request\n")
    print(f"| target | conc. | requests/s | p50 ms | p99 ms | throughput vs peer |")
    print(f"|---|---|---|---|---|---|")
    for c in concurrencies:
        base = results[(peer_name, c)]["rps"]
        for name, _ in targets:
            r = results[(name, c)]
            print(f"| {name} | {c} | {r['rps']:,.0f} | {r['p50_ms']:.3f} | {r['p99_ms']:.3f} | {r['rps'] / base:.1f}x |")
    out = os.path.join(ROOT, "target/bench/core.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump({f"{n}@{c}": r for (n, c), r in results.items()}, f, indent=2)

    cold_starts(args.cold_cycles)


def cold_starts(cycles):
    """Zero to first answer, in process, for the Python and the Rust predictor."""
    out = subprocess.run(
        [os.path.join(ROOT, "target/release/examples/cold_start"), os.path.join(ROOT, "target/bench/data"),
         str(cycles), "examples/python-iris", "examples/rust-predictor"],
        cwd=ROOT, capture_output=True, text=True, check=True, env={**os.environ, "PREDICTOR_LOG": "warn"},
    ).stdout
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    print(f"\ncold start, from a deployment with no live instance (compiled artifact cached) to its first answer; "
          f"{cycles} cycles each\n")
    print("| deployment | cold start p50 / p99 ms | load artifact p50 | instantiate + init p50 | first answer p50 | first deploy (empty caches) |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['deployment']} | {r['cold_start']['p50_ms']:.2f} / {r['cold_start']['p99_ms']:.2f} "
              f"| {r['load_artifact']['p50_ms']:.2f} | {r['instantiate_and_init']['p50_ms']:.2f} "
              f"| {r['first_answer']['p50_ms']:.2f} | {r['first_deploy_ms'] / 1000:.1f} s |")
    for r in rows:
        for line in r["first_deploy_log"]:
            if "componentized" in line or "compiled" in line:
                print(f"  {r['deployment']}: {line}")
    with open(os.path.join(ROOT, "target/bench/cold_start.json"), "w") as f:
        json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
