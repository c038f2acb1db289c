"""Model files of the artifact, run natively by the host (tract), called from a script.

``Model.load(path)`` replaces ``joblib.load(path)`` for a model exported to ONNX; the
methods mirror scikit-learn's, on plain lists.
"""

import array
import os
from dataclasses import dataclass

from componentize_py_types import Err
from wit_world.imports import models as _host
from wit_world.imports.types import PredictError_BadInput, Tensor

from predictor_runtime._errors import BadInput
from predictor_runtime._tensors import _CODES, INTEGER_TYPES, Datatype, _reshape, from_tensor, to_tensor


class Predictions(list):
    """A list with numpy's ``tolist()``, so ``model.predict(x).tolist()`` keeps working."""

    def tolist(self) -> list:
        return list(self)


@dataclass(frozen=True)
class TensorSpec:
    """An input or output of a model: its name, datatype (``FP32``...) and shape (-1: any)."""

    name: str
    datatype: str
    shape: tuple


def _raise(error) -> None:
    if isinstance(error, PredictError_BadInput):
        raise BadInput(error.value) from None
    raise RuntimeError(error.value) from None


def _relative(path) -> str:
    """Accepts what a Hopsworks script builds (``ARTIFACT_FILES_PATH + "/model.onnx"``) and
    gives the host the path inside the artifact folder."""
    path = os.fspath(path)
    root = os.environ.get("ARTIFACT_FILES_PATH", "/mnt/artifacts").rstrip("/") + "/"
    if path.startswith(root):
        return path[len(root):]
    return path.lstrip("/") if path.startswith("/mnt/artifacts/") else path


class Model:
    """A model graph of the deployment's artifact files, executed by the host."""

    def __init__(self, handle, path: str):
        self._handle = handle
        self.path = path
        self._inputs = handle.inputs()
        self._outputs = handle.outputs()
        self.inputs = [TensorSpec(s.name, s.datatype.name, tuple(s.shape)) for s in self._inputs]
        self.outputs = [TensorSpec(s.name, s.datatype.name, tuple(s.shape)) for s in self._outputs]
        # A scikit-learn classifier exported by skl2onnx gives the label first, then the
        # probabilities; anything else (a regressor, an MLP) gives its values first.
        self._single = self._inputs[0] if len(self._inputs) == 1 else None
        # predict()'s hot path, resolved once: rows of numbers for a single fixed-width input
        # and a fixed-width first output go straight to and from array buffers.
        self._fast = None
        if self._single is not None and self._outputs:
            in_code = _CODES.get(self._single.datatype)
            out_code = _CODES.get(self._outputs[0].datatype)
            if in_code and out_code and Datatype.BOOL not in (self._single.datatype, self._outputs[0].datatype):
                self._fast = (self._single.name, self._single.datatype, in_code, out_code, self._outputs[0].name)
        self._classifier = (
            len(self._outputs) >= 2
            and (self._outputs[0].datatype in INTEGER_TYPES or self._outputs[0].datatype == Datatype.BYTES)
        )

    @classmethod
    def load(cls, path) -> "Model":
        """Opens a model file (ONNX) of the artifact, by absolute path under
        ``ARTIFACT_FILES_PATH`` or relative to it. The host loads each file once per
        deployment and shares it between instances."""
        rel = _relative(path)
        try:
            handle = _host.Model.open(rel)
        except Err as e:
            _raise(e.value)
        return cls(handle, rel)

    def _tensors(self, inputs) -> list:
        if self._single is not None and type(inputs) is list:
            return [to_tensor(self._single.name, self._single.datatype, inputs)]
        if isinstance(inputs, dict):
            missing = [s.name for s in self._inputs if s.name not in inputs]
            if missing:
                raise BadInput(f"missing model input(s) {missing}; the model takes {[s.name for s in self._inputs]}")
            return [to_tensor(s.name, s.datatype, inputs[s.name]) for s in self._inputs]
        if len(self._inputs) != 1:
            raise BadInput(
                f"the model takes {len(self._inputs)} inputs {[s.name for s in self._inputs]}: pass a dict by name"
            )
        spec = self._inputs[0]
        return [to_tensor(spec.name, spec.datatype, inputs)]

    def _call(self, inputs) -> list:
        try:
            return self._handle.run(self._tensors(inputs))
        except Err as e:
            _raise(e.value)

    def run(self, inputs) -> dict:
        """Runs the graph. ``inputs``: a dict by input name, or the data of the only input.
        Returns every output by name, as nested lists."""
        return {t.name: from_tensor(t) for t in self._call(inputs)}

    def predict(self, X) -> Predictions:
        """Like scikit-learn's ``predict``: the labels of a classifier, the values of a
        regressor (one per row), or the first output of any other graph."""
        fast = self._fast
        if fast is not None and type(X) is list and X and type(X[0]) is list:
            name, datatype, in_code, out_code, wanted = fast
            try:
                flat = [e for row in X for e in row]
            except TypeError:
                flat = None  # a row that is not a list: the general path says it is ragged
            cols = len(X[0])
            if flat is not None and len(flat) == len(X) * cols:
                try:
                    data = array.array(in_code, flat).tobytes()
                except (TypeError, OverflowError):
                    data = None  # the general path names the bad element
                if data is not None:
                    try:
                        shape, data = self._handle.run_data(Tensor(name, datatype, [len(X), cols], data), wanted)
                    except Err as e:
                        _raise(e.value)
                    values = array.array(out_code)
                    values.frombytes(data)
                    values = values.tolist()
                    if len(shape) == 1 or (len(shape) == 2 and shape[1] == 1):
                        return Predictions(values)
                    return Predictions(_reshape(values, list(shape)))
        first = self._call(X)[0]
        values = from_tensor(first)
        if len(first.shape) == 2 and first.shape[1] == 1:
            values = [row[0] for row in values]
        return Predictions(values)

    def predict_proba(self, X) -> Predictions:
        """Like scikit-learn's ``predict_proba``: one row of class probabilities per input
        row (a classifier's second output; the first output of a graph with one)."""
        outputs = self._call(X)
        return Predictions(from_tensor(outputs[1] if self._classifier else outputs[0]))

    def __repr__(self) -> str:
        return f"Model({self.path!r}, inputs={self.inputs}, outputs={self.outputs})"
