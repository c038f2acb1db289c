"""What the bench sections share: where things are, starting our server, loading it with
wrk, reading its memory and metrics."""

import json
import os
import re
import subprocess
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OURS_PORT, PEER_PORT, BASELINE_PORT = 18080, 18081, 18082


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


def wrk(url, body, connections, seconds, threads, timeout_s=None):
    """One wrk run; `timeout_s` raises wrk's 2 s request timeout (a slow peer's answers at c=32
    would otherwise count as socket errors, not as its latency)."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write('wrk.method = "POST"\n')
        f.write('wrk.headers["Content-Type"] = "application/json"\n')
        f.write(f"wrk.body = {json.dumps(body)}\n")
        script = f.name
    threads = min(connections, threads)
    out = subprocess.run(
        ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s", "--latency", "-s", script,
         *(["--timeout", f"{timeout_s}s"] if timeout_s else []), url],
        capture_output=True, text=True, check=True,
    ).stdout
    os.unlink(script)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = parse_duration_ms(re.search(r"\s50%\s+(\S+)", out).group(1))
    p99 = parse_duration_ms(re.search(r"\s99%\s+(\S+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors or "Socket errors" in out:
        raise SystemExit(f"errors during the run against {url}:\n{out}")
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    return {"rps": rps, "p50_ms": p50, "p99_ms": p99, "requests": requests}


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        kib = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    return kib / 1024


def cpu_seconds_by_thread(pid):
    """CPU time (user + system) of each thread name of a process, summed, in seconds."""
    ticks = os.sysconf("SC_CLK_TCK")
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                stat = f.read()
        except FileNotFoundError:  # the thread ended meanwhile
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        out[name] = out.get(name, 0) + (int(fields[11]) + int(fields[12])) / ticks
    return out


def metric_sum(port, name):
    """The sum of every series of `name` on /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name + "{"))


def scratch_store():
    """A store of its own for one server: the data dir is shared for its compile cache, but
    deployments stored by one run must not come back in the next."""
    return tempfile.mkdtemp(prefix="predictor-bench-store-")


def serve(port, dirs, data_dir, *extra):
    """Starts the release server on `port` with `dirs` deployed; returns the process once ready."""
    args = [os.path.join(ROOT, "target/release/predictor"), "serve", "--listen", f"127.0.0.1:{port}",
            "--data-dir", data_dir, "--store-dir", scratch_store(), *extra]
    for d in dirs:
        args += ["--deploy", d]
    p = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         env={**os.environ, "PREDICTOR_LOG": "warn"})
    wait_ready(f"http://127.0.0.1:{port}/v2/health/ready", timeout=600)
    return p


def tansu():
    installed = os.path.join(os.environ.get("CARGO_HOME", os.path.expanduser("~/.cargo")), "bin/tansu")
    return installed if os.path.exists(installed) else "tansu"
