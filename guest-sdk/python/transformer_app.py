"""The component side of a Hopsworks ``Transformer`` script: exports
``predictor:runtime/transform``. ``preprocess`` gets the request body as a dict and
returns the body the predictor gets; ``postprocess`` gets the predictor's response body
and returns the client's. A missing method passes the body through."""

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports.types import PredictError_Internal

import _predictor_build as build
from predictor_runtime import _adapter, _script

SCRIPT = _script.Script(build.FILENAME, build.SOURCE, ("Transformer",), ())
_user = None


def _stage(name: str, body: str) -> str:
    if _user is None:
        raise Err(PredictError_Internal("the transformer was not initialised"))
    method = getattr(_user, name, None)
    if method is None:
        return body
    what = f"{SCRIPT.class_name}.{name}"
    result = _adapter.call(what, method, _adapter.loads(body))
    return _adapter.dumps(what, result)


class Transform(exports.Transform):
    def init(self) -> None:
        global _user
        cls = _adapter.call(f"running {SCRIPT.filename}", SCRIPT.load_class)
        _user = _adapter.call(f"{SCRIPT.class_name}.__init__", cls)

    def preprocess(self, request: str) -> str:
        return _stage("preprocess", request)

    def postprocess(self, response: str) -> str:
        return _stage("postprocess", response)
