"""Loads the user's script at build time and finds its class, with errors a user can act on.

The script is imported while componentize-py pre-initializes the component, so its
imports and class definitions are part of the snapshot; its class is only *instantiated*
at run time (``init``), where the artifact files and environment variables exist.
"""

import sys
import types

from predictor_runtime._errors import describe

# Packages with native extensions (or built on them): they cannot run in the sandbox.
NATIVE_PACKAGES = {
    "numpy", "sklearn", "scipy", "pandas", "joblib", "torch", "tensorflow", "keras",
    "xgboost", "lightgbm", "catboost", "onnxruntime", "hsml", "hsfs", "hopsworks",
}


class ScriptError(Exception):
    """The script cannot become a component; the message says why and what to do."""


def _module_name(filename: str) -> str:
    stem = filename.rsplit("/", 1)[-1]
    stem = stem[:-3] if stem.endswith(".py") else stem
    name = "".join(c if c.isalnum() or c == "_" else "_" for c in stem)
    return name if name and not name[0].isdigit() else "_" + name


def load_class(filename: str, source: str, names: tuple, methods: tuple) -> type:
    """Executes the script as a module and returns the first class among ``names``."""
    try:
        code = compile(source, filename, "exec")
    except SyntaxError as e:
        line = (e.text or "").strip()
        raise ScriptError(f"{filename}, line {e.lineno}: syntax error: {e.msg}" + (f": {line}" if line else ""))
    module = types.ModuleType(_module_name(filename))
    module.__file__ = filename
    sys.modules[module.__name__] = module
    try:
        exec(code, module.__dict__)
    except ModuleNotFoundError as e:
        top = (e.name or "").split(".")[0]
        if top in NATIVE_PACKAGES:
            raise ScriptError(
                f"{filename} imports {top}, which the sandbox cannot provide: numpy, scikit-learn, pandas "
                "and other native-extension packages do not run in a WebAssembly sandbox. Export the model "
                "to ONNX (skl2onnx, tf2onnx, torch.onnx) and load it with predictor_runtime.Model.load(path), "
                "which runs it natively in the host (see docs/python-predictor.md)"
            ) from None
        raise ScriptError(
            f"{filename} imports {e.name}, which the sandbox does not have: only the Python standard "
            "library and predictor_runtime are available"
        ) from None
    except Exception as e:
        raise ScriptError(f"{filename} failed while being imported: {describe(e)}") from None
    for name in names:
        cls = module.__dict__.get(name)
        if isinstance(cls, type):
            missing = [m for m in methods if not callable(getattr(cls, m, None))]
            if missing:
                raise ScriptError(f"class {name} in {filename} has no method {', '.join(missing)}")
            return cls
    wanted = " or ".join(f"class {n}" for n in names)
    raise ScriptError(f"{filename} defines no {wanted}")
