"""A Predict script that misbehaves on request, for tests/all/python.rs: the first instance
names what to do. With FAIL_INIT set, __init__ raises."""

import encodings.idna  # noqa: F401 (name lookups encode host names with it)
import os
import socket

from predictor_runtime import BadInput

ARTIFACTS = os.environ["ARTIFACT_FILES_PATH"]


class Predict(object):
    def __init__(self):
        print("hostile predictor starting")
        if os.environ.get("FAIL_INIT"):
            raise RuntimeError("cannot load weights: " + os.environ["FAIL_INIT"])
        self.calls = 0

    def predict(self, inputs):
        self.calls += 1
        action = inputs[0]
        if action == "calls":
            return [self.calls]
        if action == "raise":
            raise ValueError("the model is not fitted")
        if action == "bad-input":
            raise BadInput("instances must be numbers")
        if action == "read-artifact":
            with open(os.path.join(ARTIFACTS, "note.txt")) as f:
                return [f.read()]
        if action == "read-outside":
            with open("/etc/passwd") as f:
                return [f.read()]
        if action == "escape":
            with open(os.path.join(ARTIFACTS, "..", "..", "etc", "passwd")) as f:
                return [f.read()]
        if action == "write-artifact":
            with open(os.path.join(ARTIFACTS, "note.txt"), "w") as f:
                f.write("overwritten")
            return ["written"]
        if action == "connect":
            # A raw address: no name lookup in the way, straight to the socket calls.
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.connect(("127.0.0.1", int(inputs[1])))
            return ["connected"]
        if action == "resolve":
            return [socket.getaddrinfo("localhost", 80)[0][4][0]]
        if action == "not-json":
            return [{1, 2, 3}]
        if action == "nan":
            return [float("nan")]
        if action == "env":
            return sorted(os.environ)
        return inputs
