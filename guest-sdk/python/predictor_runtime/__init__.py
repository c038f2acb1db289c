"""The Python side of the predictor runtime: what a Hopsworks-style script may import.

A predictor script is a plain Hopsworks ``Predict`` class; this module adds what the
sandbox cannot give it otherwise:

- ``Model``: a model file of the deployment's artifact (ONNX exported by skl2onnx, tf2onnx
  or torch.onnx), run natively by the host. ``predict`` / ``predict_proba`` / ``run`` take
  and return plain lists, so ``joblib.load(...)`` becomes ``Model.load(...)``.
- ``BadInput``: raise it from ``predict`` to answer the client 400 instead of 500.
- ``log``: write to the deployment's log at a level (``print`` goes there too, at INFO).
- ``artifact_path``: a path inside the read-only artifact folder.
"""

import os

from predictor_runtime._model import Model, TensorSpec
from predictor_runtime._errors import BadInput
from predictor_runtime import log

__all__ = ["Model", "TensorSpec", "BadInput", "log", "artifact_path"]


def artifact_path(*parts: str) -> str:
    """The path of a file in the deployment's artifact folder (``ARTIFACT_FILES_PATH``)."""
    return os.path.join(os.environ.get("ARTIFACT_FILES_PATH", "/mnt/artifacts"), *parts)
