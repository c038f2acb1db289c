"""What both adapters share: calling the user's code and turning its outcome into the
WIT's results (a JSON string, or a ``predict-error``)."""

import json
import json.encoder
import json.scanner
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


# The C encoder and scanner of the json module, made once and called directly: the
# Python-level layers of json.dumps/json.loads (option handling, a new encoder per call,
# whitespace regexes) cost more than the encoding itself on small bodies, every request.
_encode = json.encoder.c_make_encoder(
    {}, _default, json.encoder.encode_basestring_ascii, None, ":", ",", False, False, False
) if json.encoder.c_make_encoder is not None else None
_scan = json.scanner.make_scanner(json.JSONDecoder())


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
        value, end = _scan(text, 0)
        if end == len(text):
            return value
    except (StopIteration, ValueError, RecursionError):
        pass
    try:  # anything unusual (whitespace around, or an error to explain): the full decoder
        return json.loads(text)
    except ValueError as e:
        raise Err(PredictError_BadInput(f"malformed JSON: {e}")) from None
    except RecursionError:
        # The host refuses deep bodies first; this keeps a deep one from trapping anyway.
        raise Err(PredictError_BadInput("the JSON nests too deeply")) from None


def dumps(what: str, value) -> str:
    try:
        if _encode is not None:
            return "".join(_encode(value, 0))
        return json.dumps(value, default=_default, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError, RecursionError) as e:
        raise Err(PredictError_Internal(f"{what} returned a value that is not JSON-serializable: {e}")) from None
