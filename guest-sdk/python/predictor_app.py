"""The component side of a Hopsworks ``Predict`` script: exports ``predictor:runtime/predict``.

The script is compiled and checked at build time; ``init`` runs it and instantiates its
class (``Predict``, or ``Predictor``) once per instance; every request then calls the
object's ``predict``.
"""

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports.predict import ModelSignature
from wit_world.imports.types import Datatype, PredictError_Internal

import _predictor_build as build
from predictor_runtime import _adapter, _script
from predictor_runtime._tensors import _flatten, _shape_of, from_tensor, to_tensor

SCRIPT = _script.Script(build.FILENAME, build.SOURCE, ("Predict", "Predictor"), ("predict",))
NAME = f"{SCRIPT.class_name}.predict"

# The user's object, one per instance (componentize-py may create export objects per call).
_user = None


def _instance():
    if _user is None:
        raise Err(PredictError_Internal("the predictor was not initialised"))
    return _user


def _output_datatype(flat: list) -> Datatype:
    if all(isinstance(e, bool) for e in flat):
        return Datatype.BOOL
    if all(isinstance(e, int) and not isinstance(e, bool) for e in flat):
        return Datatype.INT64
    if all(isinstance(e, (int, float)) and not isinstance(e, bool) for e in flat):
        return Datatype.FP64
    if all(isinstance(e, (str, bytes)) for e in flat):
        return Datatype.BYTES
    raise Err(PredictError_Internal(f"{NAME} returned values that are not one tensor datatype"))


def _to_output(name: str, value):
    shape = _shape_of(value)
    flat = _flatten(value, len(shape))
    return to_tensor(name, _output_datatype(flat), value)


def _inputs_of(inputs):
    if len(inputs) == 1:
        return from_tensor(inputs[0])
    return {t.name: from_tensor(t) for t in inputs}


class Predict(exports.Predict):
    def init(self) -> None:
        global _user
        cls = _adapter.call(f"running {SCRIPT.filename}", SCRIPT.load_class)
        _user = _adapter.call(f"{SCRIPT.class_name}.__init__", cls)

    def signature(self) -> ModelSignature:
        return ModelSignature(inputs=[], outputs=[])

    def predict(self, instances: str) -> str:
        inputs = _adapter.loads(instances)
        result = _adapter.call(NAME, _instance().predict, inputs)
        return _adapter.dumps(NAME, result)

    def predict_tensors(self, inputs):
        # V2: one input tensor arrives as its nested list (what predict(inputs) gets from
        # V1), several as a dict by name; the answer becomes output-0 (KServe's naming),
        # or one tensor per key of a dict.
        # A conversion failure is the request's (a datatype Python cannot hold), never an
        # uncaught exception: that would trap the instance.
        args = _adapter.call("reading the input tensors", _inputs_of, inputs)
        result = _adapter.call(NAME, _instance().predict, args)
        try:
            if isinstance(result, dict):
                return [_to_output(str(k), v) for k, v in result.items()]
            return [_to_output("output-0", result)]
        except Err:
            raise
        except Exception as e:
            raise Err(PredictError_Internal(f"{NAME} returned a value that is not a tensor: {e}")) from None


