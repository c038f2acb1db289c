"""Schemathesis, a fuzzer no one here wrote, against the real binary's `/api/openapi.json`:
with API keys (the manage key sent) and without (loopback), no answer may be a 5xx, and
every answer must be one the document declares (status, content type, body schema).

Two deployments are uploaded first, and generated names often draw one, so describe, logs,
the actions (rollback to versions it lacks) and delete reach a real one as well as missing
ones and names that break the rule. The run is seeded and bounded (examples per
operation), so it sends the same requests each time and stays within a minute or two."""

import json
import pathlib
import subprocess
import sys

import pytest
import requests

from conftest import ROOT

MANAGE_KEY = "schemathesis-manage-key-0123456789"
# The example's name, and a copy of it for DELETE to remove (so the others keep theirs).
DEPLOYED = "iris"
SPARE = "spare"
EXAMPLES_PER_OPERATION = 100
SEED = 14
CHECKS = ",".join([
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
])
# Generated names draw an uploaded deployment's, or a hostile one the fuzzer would seldom
# make (longer than a file name may be, a NUL), three times in five. `follow=true` streams a
# running deployment's log until it stops, so no request asks for it: the answer would
# never end (a string: a TOML `false` would be sent as `False`).
HOSTILE_NAMES = ["n" * 300, "a\u0000b"]
CONFIG = f"""
[dictionaries.deployed]
values = {json.dumps([DEPLOYED] + HOSTILE_NAMES)}

[dictionaries.spare]
values = {json.dumps([SPARE] + HOSTILE_NAMES)}

[parameters]
"path.name" = {{ dictionary = "deployed", probability = 0.6 }}
"query.follow" = "false"

[[operations]]
include-method = "DELETE"
parameters = {{ "path.name" = {{ dictionary = "spare", probability = 0.6 }} }}
"""


def upload_iris(base, headers, name):
    """Uploads examples/iris-onnx as `name`, as a client would (multipart)."""
    folder = ROOT / "examples/iris-onnx"
    definition = json.loads((folder / "deployment.json").read_text())
    definition["name"] = name
    parts = [("deployment.json", ("deployment.json", json.dumps(definition).encode()))]
    parts += [(p.name, (p.name, p.read_bytes())) for p in sorted(folder.iterdir())
              if p.is_file() and p.name != "deployment.json"]
    answer = requests.post(f"http://{base}/api/deployments", files=parts, headers=headers,
                           timeout=120)
    assert answer.status_code == 201, answer.text
    assert answer.json()["name"] == name


def schemathesis(base, tmp_path, headers, *selection):
    """Runs `st run` against `base` on the operations `selection` picks; returns its exit
    code and output."""
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    st = pathlib.Path(sys.executable).with_name("st")
    command = [
        str(st), "--config-file", str(config), "run", f"http://{base}/api/openapi.json",
        "--checks", CHECKS,
        "--phases", "examples,coverage,fuzzing",
        "--max-examples", str(EXAMPLES_PER_OPERATION),
        "--seed", str(SEED),
        "--workers", "1",
        # Every failing case is reported, not only the first of each operation.
        "--continue-on-failure",
        "--request-timeout", "60",
        "--no-color",
        *selection,
    ]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    run = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    return run.returncode, run.stdout + run.stderr


@pytest.mark.parametrize("keys", [True, False], ids=["with-keys", "without-keys"])
def test_schemathesis_finds_no_server_error_and_no_undocumented_answer(
        start_server, tmp_path, keys):
    headers = {}
    flags = []
    if keys:
        keys_file = tmp_path / "keys"
        keys_file.write_text(f"manage {MANAGE_KEY}\n")
        flags = ["--api-keys-file", str(keys_file)]
        headers = {"Authorization": f"ApiKey {MANAGE_KEY}"}
    base = start_server(*flags, key=MANAGE_KEY if keys else None)
    for name in (DEPLOYED, SPARE):
        upload_iris(base, headers, name)
    # DELETE runs last and alone: Schemathesis also reuses names it saw in answers, and a
    # deleted `iris` would leave the other operations only missing names in the fuzzing phase.
    failed = []
    for selection in (["--exclude-method", "DELETE"], ["--include-method", "DELETE"]):
        code, output = schemathesis(base, tmp_path, headers, *selection)
        if code != 0:
            # The failures section and the summary say which request got which answer.
            failed.append(output[max(output.find("FAILURES"), 0):][-15000:])
    assert not failed, "\n".join(failed)
