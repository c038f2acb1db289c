"""The bench command's driver (run by scripts/bench.sh): starts our server (release build)
and the KServe Python peer on loopback ports, loads each with wrk at concurrency 1 and 32,
and prints requests/s, p50 and p99 side by side with the ratio to the peer. Then measures
cold starts of deployments (target/release/examples/cold_start), the server's
resident memory with 100 deployments at zero vs 100 warm ones, a deployment at 10x
overload (target/release/examples/overload), inference logging's cost, batching (see
bench/batching.py), tree ensembles (see bench/trees.py) and the Keras examples against
KServe with TensorFlow (see bench/tf.py).

The peer serves the Hopsworks-style script examples/python-iris/predictor_sklearn.py
(scikit-learn, joblib); ours serves the same model natively (iris), as a Rust component
(iris-bayes) and as the same script with its one changed line (iris-python).

Every number is measured in one run on this machine; the load generator shares the box.
"""

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

from ab import ab
from batching import batching
from common import (BASELINE_PORT, OURS_PORT, PEER_PORT, ROOT, cpu_seconds_by_thread, metric_sum, post_once, rss_mib,
                    scratch_store, serve, tansu, wait_ready, wrk)
from tf import tf_section
from trees import trees


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--concurrency", default="1,32")
    # wrk shares the box with the server under test: each of its threads takes CPU from our
    # server (the Python peer is bound by its single worker either way).
    ap.add_argument("--threads", type=int, default=2, help="wrk threads (at most the concurrency)")
    ap.add_argument("--cold-cycles", type=int, default=200, help="cold starts measured per deployment")
    ap.add_argument("--deployments", type=int, default=100, help="deployments in the memory-at-zero run")
    ap.add_argument("--baseline", default=None,
                    help="a predictor binary of an earlier commit: the core section also runs it, side by side")
    ap.add_argument("--sections", default="core,cold,zero,overload,logging,batching,trees,tf",
                    help="which parts to run: core (vs the peer), cold, zero, overload, logging, batching, "
                         "trees, tf (the Keras examples vs KServe with TensorFlow); "
                         "ab (this build against --baseline, interleaved rounds)")
    args = ap.parse_args()
    sections = set(args.sections.split(","))
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.platform()}\n")
    if "core" in sections:
        core(args)
    if "ab" in sections:
        ab(args)
    if "cold" in sections:
        cold_starts(args.cold_cycles)
    if "zero" in sections:
        memory_at_zero(args.deployments)
    if "overload" in sections:
        overload(args.seconds)
    if "logging" in sections:
        logging_cost(args.seconds, args.threads)
    if "batching" in sections:
        batching(args.seconds, args.threads)
    if "trees" in sections:
        trees(args.seconds, args.threads)
    if "tf" in sections:
        tf_section(args.seconds, args.threads, args.cold_cycles)


def core(args):
    """Our server against the KServe Python peer, same model, same wrk, one run."""
    concurrencies = [int(c) for c in args.concurrency.split(",")]

    body = json.dumps({"instances": [[5.1, 3.5, 1.4, 0.2]]})
    # Kept between runs: the Python example is componentized and compiled once.
    data_dir = os.path.join(ROOT, "target/bench/data")
    ours = subprocess.Popen(
        [os.path.join(ROOT, "target/release/predictor"), "serve", "--listen", f"127.0.0.1:{OURS_PORT}",
         "--data-dir", data_dir, "--store-dir", scratch_store(),
         "--deploy", "examples/iris-onnx,examples/rust-predictor,examples/python-iris"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "PREDICTOR_LOG": "warn"},
    )
    # An earlier build of ours, when given: the same deployments, measured in the same run.
    baseline = args.baseline and subprocess.Popen(
        [args.baseline, "serve", "--listen", f"127.0.0.1:{BASELINE_PORT}",
         "--data-dir", data_dir, "--store-dir", scratch_store(),
         "--deploy", "examples/iris-onnx,examples/rust-predictor"],
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
        if baseline:
            wait_ready(f"http://127.0.0.1:{BASELINE_PORT}/v2/health/ready", timeout=300)
            targets[-1:-1] = [
                ("ONNX example (native), baseline build", f"http://127.0.0.1:{BASELINE_PORT}/v1/models/iris:predict"),
                ("Rust component example, baseline build", f"http://127.0.0.1:{BASELINE_PORT}/v1/models/iris-bayes:predict"),
            ]
        for name, url in targets:  # each answers before it is measured
            print(f"{name}: {json.dumps(post_once(url, body))}", file=sys.stderr)
        results = {}
        for c in concurrencies:
            for name, url in targets:
                wrk(url, body, c, 1, args.threads)  # warm up connections and caches
                results[(name, c)] = wrk(url, body, c, args.seconds, args.threads)
    finally:
        for p in (ours, peer, baseline):
            if p:
                p.terminate()
                p.wait(timeout=30)

    peer_name = targets[-1][0]
    print(f"wrk ({args.threads} thread(s)) on the same box; {args.seconds}s per cell; "
          f"V1 :predict, one iris instance per request\n")
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


def cold_starts(cycles):
    """Zero to first answer, in process, for the Python and the Rust predictor."""
    out = subprocess.run(
        [os.path.join(ROOT, "target/release/examples/cold_start"), os.path.join(ROOT, "target/bench/data"),
         str(cycles), "examples/python-iris", "examples/rust-predictor", "examples/iris-onnx"],
        cwd=ROOT, capture_output=True, text=True, check=True, env={**os.environ, "PREDICTOR_LOG": "warn"},
    ).stdout
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    print(f"\ncold start: the predictor scaled to zero (instances dropped, compiled component unloaded; "
          f"or the native graph unloaded), then one request through the serving path: reload from the "
          f"compile cache, instantiate, init, answer (or load the graph file and answer); {cycles} cycles each\n")
    print("| deployment | cold start p50 ms | p99 ms | first deploy (empty caches) |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| {r['deployment']} | {r['cold_start']['p50_ms']:.2f} | {r['cold_start']['p99_ms']:.2f} "
              f"| {r['first_deploy_ms'] / 1000:.1f} s |")
    for r in rows:
        for line in r["first_deploy_log"]:
            if "componentized" in line or "compiled" in line:
                print(f"  {r['deployment']}: {line}")
    with open(os.path.join(ROOT, "target/bench/cold_start.json"), "w") as f:
        json.dump(rows, f, indent=2)


def copies(example, n, scaling, into):
    """`n` copies of an example deployment named NAME-i, with `scaling`, under `into`."""
    src = os.path.join(ROOT, "examples", example)
    with open(os.path.join(src, "deployment.json")) as f:
        definition = json.load(f)
    dirs = []
    for i in range(n):
        d = os.path.join(into, f"{example}-{i}")
        os.makedirs(d)
        for name in os.listdir(src):
            if os.path.isfile(os.path.join(src, name)) and name != "deployment.json":
                shutil.copy(os.path.join(src, name), os.path.join(d, name))
        # A small reservation, so a hundred fit this node's cores (0.01 x 100 = 1 core).
        copy = {**definition, "name": f"{definition['name']}-{i}", "scaling_configuration": scaling,
                "resources": {"requests": {"cores": 0.01, "memory": 16},
                              "limits": definition.get("resources", {}).get("limits", {"cores": 2, "memory": 1024})}}
        with open(os.path.join(d, "deployment.json"), "w") as f:
            json.dump(copy, f)
        dirs.append(d)
    return dirs


def memory_at_zero(n):
    """Resident memory of the server: nothing deployed, n deployments at zero, n warm."""
    data_dir = os.path.join(ROOT, "target/bench/data")
    port = OURS_PORT + 10
    body = json.dumps({"instances": [[5.1, 3.5, 1.4, 0.2]]})
    empty = serve(port, [], data_dir)
    time.sleep(1)
    baseline = rss_mib(empty.pid)
    empty.terminate()
    empty.wait(timeout=20)
    rows = []
    for example in ["rust-predictor", "python-iris", "iris-onnx"]:
        row = {"example": example}
        zero = {"min_instances": 0, "scale_to_zero_retention_seconds": 1}
        # "zero0": the setting for hosting many deployments at zero (freed memory returned at
        # once, at a throughput cost), beside the default.
        for state, scaling, extra in [("zero", zero, []), ("zero0", zero, ["--memory-purge-delay-ms", "0"]),
                                      ("warm", {"min_instances": 1, "max_instances": 1}, [])]:
            with tempfile.TemporaryDirectory() as tmp:
                dirs = copies(example, n, scaling, tmp)
                server = serve(port, dirs, data_dir, *extra)
                try:
                    names = [json.load(open(os.path.join(d, "deployment.json")))["name"] for d in dirs]
                    for name in names:  # each has answered once
                        post_once(f"http://127.0.0.1:{port}/v1/models/{name}:predict", body)
                    deadline = time.time() + 60
                    while state.startswith("zero") and metric_sum(port, "predictor_instances") > 0:
                        if time.time() > deadline:
                            raise SystemExit("the deployments did not go to zero")
                        time.sleep(0.5)
                    time.sleep(2)
                    row[state] = rss_mib(server.pid)
                    row[f"{state}_instances"] = metric_sum(port, "predictor_instances")
                finally:
                    server.terminate()
                    server.wait(timeout=60)
        rows.append(row)
    print(f"\nresident memory (VmRSS) of the server: nothing deployed {baseline:.1f} MiB; "
          f"{n} copies of an example, each answered once, then at zero (min_instances 0, retention 1 s) "
          f"or warm (one idle instance each)\n")
    print("| example | at zero: RSS MiB | per deployment | at zero, --memory-purge-delay-ms 0 | per deployment "
          "| warm: RSS MiB | per deployment |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        per = lambda state: (r[state] - baseline) / n * 1024
        print(f"| {r['example']} | {r['zero']:.1f} ({r['zero_instances']:.0f} instances) | {per('zero'):.0f} KiB "
              f"| {r['zero0']:.1f} ({r['zero0_instances']:.0f} instances) | {per('zero0'):.0f} KiB "
              f"| {r['warm']:.1f} ({r['warm_instances']:.0f} instances) | {per('warm') / 1024:.2f} MiB |")
    with open(os.path.join(ROOT, "target/bench/memory_at_zero.json"), "w") as f:
        json.dump({"baseline_mib": baseline, "deployments": n, "rows": rows}, f, indent=2)


def overload(seconds):
    """A deployment of 2 instances of 10 ms requests (200 requests/s) and a queue of 16,
    offered 10x that: 2,000 requests/s on a fixed schedule."""
    data_dir = os.path.join(ROOT, "target/bench/data")
    port = OURS_PORT + 11
    instances, queue, service_ms = 2, 16, 10
    capacity = instances * 1000 / service_ms
    rate = 10 * capacity
    with tempfile.TemporaryDirectory() as d:
        shutil.copy(os.path.join(ROOT, "target/guests/wasm32-wasip2/guest/guest_hog.wasm"),
                    os.path.join(d, "predictor.wasm"))
        with open(os.path.join(d, "deployment.json"), "w") as f:
            json.dump({"name": "slow", "component_file": "predictor.wasm",
                       "scaling_configuration": {"min_instances": instances, "max_instances": instances}}, f)
        server = serve(port, [d], data_dir, "--max-queue", str(queue))
        url = f"http://127.0.0.1:{port}/v1/models/slow:predict"
        body = json.dumps({"instances": ["sleep", service_ms]})
        client = os.path.join(ROOT, "target/release/examples/overload")
        try:
            run = lambda secs: json.loads(subprocess.run(
                [client, url, body, str(rate), str(secs)], capture_output=True, text=True, check=True).stdout)
            run(2)  # warm up: connections, buffers, the allocator's pools
            before = rss_mib(server.pid)
            r = run(seconds)
            after = rss_mib(server.pid)
        finally:
            server.terminate()
            server.wait(timeout=20)
    print(f"\n10x overload: a deployment serving {capacity:.0f} requests/s ({instances} instances, {service_ms} ms "
          f"per request) with a queue of {queue}, offered {rate:.0f} requests/s (open loop) for {seconds} s\n")
    print("| served/s | refused (503)/s | refused share | 503 p50 / p99 ms | 200 p50 / p99 ms | other | RSS before -> after |")
    print("|---|---|---|---|---|---|---|")
    print(f"| {r['ok_per_s']:,.0f} | {r['refused_per_s']:,.0f} | {r['refused_share'] * 100:.1f}% | "
          f"{r['refused_p50_ms']:.2f} / {r['refused_p99_ms']:.2f} | {r['ok_p50_ms']:.1f} / {r['ok_p99_ms']:.1f} | "
          f"{r['other']} | {before:.1f} -> {after:.1f} MiB ({(after - before) / before * 100:+.1f}%) |")
    with open(os.path.join(ROOT, "target/bench/overload.json"), "w") as f:
        json.dump({**r, "rss_before_mib": before, "rss_after_mib": after}, f, indent=2)


def logging_cost(seconds, threads):
    """The iris ONNX deployment with inference logging NONE vs ALL to a local broker (tansu),
    side by side in one server, alternating wrk runs; every record must be delivered."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        kafka_port = s.getsockname()[1]
    url = f"tcp://127.0.0.1:{kafka_port}"
    broker = subprocess.Popen([tansu(), "broker", "--listener-url", url, "--advertised-listener-url", url,
                               "--storage-engine", "memory://tansu/"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    port = OURS_PORT + 12
    body = json.dumps({"instances": [[5.1, 3.5, 1.4, 0.2]]})
    rounds = 3
    results = {"NONE": [], "ALL": []}
    with tempfile.TemporaryDirectory() as tmp:
        dirs = []
        for name, logger in [("iris-nolog", {"mode": "NONE"}),
                             ("iris-log", {"mode": "ALL", "kafka_topic": {"name": "iris-log"}})]:
            d = os.path.join(tmp, name)
            os.makedirs(d)
            src = os.path.join(ROOT, "examples/iris-onnx")
            for f in os.listdir(src):
                if f != "deployment.json":
                    shutil.copy(os.path.join(src, f), os.path.join(d, f))
            definition = json.load(open(os.path.join(src, "deployment.json")))
            definition.update({"name": name, "inference_logger": logger})
            json.dump(definition, open(os.path.join(d, "deployment.json"), "w"))
            dirs.append(d)
        time.sleep(0.5)
        server = serve(port, dirs, os.path.join(ROOT, "target/bench/data"),
                       "--kafka-brokers", f"127.0.0.1:{kafka_port}")
        try:
            logged = 0  # requests sent to the logging deployment, warm-up included
            for mode, name in [("NONE", "iris-nolog"), ("ALL", "iris-log")]:
                warm = wrk(f"http://127.0.0.1:{port}/v1/models/{name}:predict", body, 32, 2, threads)
                logged += warm["requests"] if mode == "ALL" else 0
            for _ in range(rounds):
                for mode, name in [("NONE", "iris-nolog"), ("ALL", "iris-log")]:
                    before = cpu_seconds_by_thread(server.pid), sum(cpu_seconds_by_thread(broker.pid).values())
                    results[mode].append(wrk(f"http://127.0.0.1:{port}/v1/models/{name}:predict",
                                             body, 32, seconds, threads))
                    after = cpu_seconds_by_thread(server.pid), sum(cpu_seconds_by_thread(broker.pid).values())
                    # Where the CPU went, per request: request handling (tokio workers), the
                    # log writer thread, librdkafka's threads, the broker process.
                    n = results[mode][-1]["requests"]
                    used = lambda pick: sum(v - before[0].get(k, 0) for k, v in after[0].items() if pick(k)) / n * 1e6
                    results[mode][-1]["cpu_us_per_request"] = {
                        "workers": used(lambda k: k.startswith("tokio-rt-worker")),
                        "log_writer": used(lambda k: k == "inference-log"),
                        "librdkafka": used(lambda k: k.startswith("rdk:") or k.startswith("producer")),
                        "broker": (after[1] - before[1]) / n * 1e6,
                    }
                    logged += n if mode == "ALL" else 0
            deadline = time.time() + 60
            while True:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                    text = r.read().decode()
                counts = {o: float(next((l.rsplit(" ", 1)[1] for l in text.splitlines() if l.startswith(
                    f'predictor_inference_log_records_total{{deployment="iris-log",outcome="{o}"}}')), 0))
                    for o in ("delivered", "dropped")}
                # wrk counts completed requests; a few more may have been sent as it stopped.
                if time.time() > deadline or counts["delivered"] + counts["dropped"] >= 2 * logged:
                    break
                time.sleep(0.5)
        finally:
            server.terminate()
            server.wait(timeout=30)
            broker.terminate()
            broker.wait(timeout=10)
    med = lambda rs, k: sorted(r[k] for r in rs)[len(rs) // 2]
    none_rps, all_rps = med(results["NONE"], "rps"), med(results["ALL"], "rps")
    none_p99, all_p99 = med(results["NONE"], "p99_ms"), med(results["ALL"], "p99_ms")
    print(f"\ninference logging: iris ONNX, V1 :predict, wrk c=32 ({threads} thread(s)), {rounds} alternating "
          f"rounds of {seconds} s per mode in one server, broker tansu on loopback; medians\n")
    print("| logging | requests/s | p99 ms |")
    print("|---|---|---|")
    print(f"| NONE | {none_rps:,.0f} | {none_p99:.3f} |")
    print(f"| ALL (KServe schema, Avro, 2 records per request) | {all_rps:,.0f} | {all_p99:.3f} |")
    print("\nCPU time per request, µs (medians of the rounds; wrk's own is not counted):\n")
    print("| logging | tokio workers | log writer thread | librdkafka threads | broker (tansu) |")
    print("|---|---|---|---|---|")
    for mode in ("NONE", "ALL"):
        cpu = {k: med([r["cpu_us_per_request"] for r in results[mode]], k)
               for k in ("workers", "log_writer", "librdkafka", "broker")}
        print(f"| {mode} | {cpu['workers']:.1f} | {cpu['log_writer']:.2f} | {cpu['librdkafka']:.2f} | {cpu['broker']:.2f} |")
    print(f"\nthroughput {(all_rps / none_rps - 1) * 100:+.1f}%, p99 {all_p99 - none_p99:+.3f} ms; "
          f"records delivered {counts['delivered']:.0f}, dropped {counts['dropped']:.0f} "
          f"(requests wrk completed on the logging deployment x 2 = {2 * logged})")
    with open(os.path.join(ROOT, "target/bench/logging.json"), "w") as f:
        json.dump({"results": results, "records": counts}, f, indent=2)


if __name__ == "__main__":
    main()
