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
def server():
    port = free_port()
    data_dir = tempfile.mkdtemp(prefix="predictor-clients-")
    binary = ROOT / "target/debug/predictor"
    proc = subprocess.Popen(
        [str(binary), "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", data_dir,
         "--deploy", "examples/iris-onnx", "--deploy", "examples/rust-predictor",
         "--deploy", "examples/multi-model"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    base = f"127.0.0.1:{port}"
    deadline = time.time() + 60
    while True:
        try:
            with urllib.request.urlopen(f"http://{base}/v2/health/ready", timeout=1):
                break
        except Exception:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                raise RuntimeError(proc.stdout.read().decode())
            time.sleep(0.1)
    yield base
    proc.terminate()
    proc.wait(timeout=20)


@pytest.fixture(scope="session")
def reference():
    return json.loads((ROOT / "target/example-models/reference.json").read_text())
