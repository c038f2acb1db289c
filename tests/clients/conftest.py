"""Starts the real `predictor` binary (debug build) serving the bundled examples on a free
loopback port, for the protocol clients to talk to."""

import json
import os
import pathlib
import socket
import subprocess
import tempfile
import time
import urllib.request

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def start_server():
    """Starts a server with the given flags (each its own data folder) and returns its
    `host:port` once ready; `key` is sent while waiting. All are stopped at the end."""
    procs = []

    def start(*flags, key=None):
        port = free_port()
        data_dir = tempfile.mkdtemp(prefix="predictor-clients-")
        binary = ROOT / "target/debug/predictor"
        # A file, not a pipe: a pipe no one reads fills and then blocks the server's logging.
        log = open(pathlib.Path(data_dir) / "server.log", "w+b")
        proc = subprocess.Popen(
            [str(binary), "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", data_dir,
             *flags],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        )
        procs.append(proc)
        base = f"127.0.0.1:{port}"
        ready = urllib.request.Request(f"http://{base}/v2/health/ready")
        if key:
            ready.add_header("Authorization", f"ApiKey {key}")
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(ready, timeout=1):
                    return base
            except Exception:
                if proc.poll() is not None or time.time() > deadline:
                    proc.kill()
                    log.seek(0)
                    raise RuntimeError(log.read().decode())
                time.sleep(0.1)

    yield start
    for proc in procs:
        proc.terminate()
    for proc in procs:
        proc.wait(timeout=20)


@pytest.fixture(scope="session")
def server(start_server):
    return start_server("--deploy", "examples/iris-onnx", "--deploy", "examples/rust-predictor",
                        "--deploy", "examples/multi-model")


@pytest.fixture(scope="session")
def reference():
    return json.loads((ROOT / "target/example-models/reference.json").read_text())
