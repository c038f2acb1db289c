"""What both adapters share: calling the user's code and turning its outcome into the
WIT's results (a JSON string, or a ``predict-error``)."""

import json
import sys
import traceback

from componentize_py_types import Err
from wit_world.imports.types import PredictError_BadInput, PredictError_Internal

from predictor_runtime._errors import BadInput, describe


def _default(value):
    # numpy-like values (our Predictions, or anything with tolist) serialize as lists.
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        return tolist()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


# One encoder for every answer: `json.dumps` with options builds a new one per call.
_ENCODER = json.JSONEncoder(default=_default, allow_nan=False, separators=(",", ":"))


def call(what: str, fn, *args):
    """Runs user code; a ``BadInput`` becomes bad-input, any other exception internal,
    with its traceback in the deployment's log."""
    try:
        return fn(*args)
    except BadInput as e:
        raise Err(PredictError_BadInput(str(e))) from None
    except Exception as e:
        print(f"{what} raised:", file=sys.stderr)
        traceback.print_exc(file=sys.stderr)
        sys.stderr.flush()
        raise Err(PredictError_Internal(f"{what} raised {describe(e)}")) from None


def loads(text: str):
    try:
        return json.loads(text)
    except ValueError as e:
        raise Err(PredictError_BadInput(f"malformed JSON: {e}")) from None


def dumps(what: str, value) -> str:
    try:
        return _ENCODER.encode(value)
    except (TypeError, ValueError) as e:
        raise Err(PredictError_Internal(f"{what} returned a value that is not JSON-serializable: {e}")) from None
