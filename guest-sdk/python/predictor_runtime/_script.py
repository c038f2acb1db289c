"""The user's script: checked and compiled at build time, executed at run time.

componentize-py pre-initializes the component at build time, where neither the artifact
files nor the deployment's environment variables exist, and Hopsworks scripts often read
them at module level (``ARTIFACTS = os.environ["ARTIFACT_FILES_PATH"]``). So the build
only *compiles* the script (a syntax error fails the build), checks statically that it
defines the class and imports only what the sandbox has, and imports those modules so
they are in the snapshot. ``init`` at run time executes the compiled code and creates the
object: a cold start pays for the script's own top-level code, not for imports.
"""

import ast
import importlib
import importlib.util
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


def _unguarded_imports(tree: ast.Module):
    """Top-level module names imported outside a ``try`` (an import in a ``try`` has a
    fallback the script chose)."""

    def walk(nodes):
        for node in nodes:
            if isinstance(node, ast.Try):
                yield from walk(node.orelse)
                yield from walk(node.finalbody)
                continue
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield node.lineno, alias.name
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                yield node.lineno, node.module
            for field in ("body", "orelse", "handlers", "finalbody"):
                children = getattr(node, field, None)
                if isinstance(children, list):
                    yield from walk(children)

    yield from walk(tree.body)


def _check_import(filename: str, lineno: int, name: str) -> None:
    top = name.split(".")[0]
    if top in NATIVE_PACKAGES:
        raise ScriptError(
            f"{filename}, line {lineno}: imports {top}, which the sandbox cannot provide: numpy, scikit-learn, "
            "pandas and other native-extension packages do not run in a WebAssembly sandbox. Export the model "
            "to ONNX (skl2onnx, tf2onnx, torch.onnx) and load it with predictor_runtime.Model.load(path), "
            "which runs it natively in the host (see docs/python-predictor.md)"
        )
    try:
        found = importlib.util.find_spec(top) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise ScriptError(
            f"{filename}, line {lineno}: imports {top}, which the sandbox does not have: only the Python "
            "standard library and predictor_runtime are available"
        )
    try:
        importlib.import_module(name)
    except Exception as e:
        raise ScriptError(f"{filename}, line {lineno}: importing {name} failed in the sandbox: {describe(e)}") from None


def _check_class(filename: str, tree: ast.Module, names: tuple, methods: tuple) -> str:
    for name in names:
        for node in tree.body:
            if isinstance(node, ast.ClassDef) and node.name == name:
                inherits = any(not (isinstance(b, ast.Name) and b.id == "object") for b in node.bases)
                defined = {
                    n.name for n in node.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
                }
                missing = [m for m in methods if m not in defined]
                if missing and not inherits:
                    raise ScriptError(f"class {name} in {filename} has no method {', '.join(missing)}")
                return name
    wanted = " or ".join(f"class {n}" for n in names)
    raise ScriptError(f"{filename} defines no {wanted}")


class Script:
    """A user's script, compiled and checked (build time), executed on demand (run time)."""

    def __init__(self, filename: str, source: str, names: tuple, methods: tuple):
        self.filename = filename
        try:
            tree = ast.parse(source, filename)
            self.code = compile(tree, filename, "exec")
        except SyntaxError as e:
            line = (e.text or "").strip()
            raise ScriptError(
                f"{filename}, line {e.lineno}: syntax error: {e.msg}" + (f": {line}" if line else "")
            ) from None
        self.class_name = _check_class(filename, tree, names, methods)
        for lineno, name in _unguarded_imports(tree):
            _check_import(filename, lineno, name)

    def load_class(self) -> type:
        """Executes the script as its module and returns its class (run time)."""
        module = types.ModuleType(_module_name(self.filename))
        module.__file__ = self.filename
        sys.modules[module.__name__] = module
        exec(self.code, module.__dict__)
        cls = module.__dict__.get(self.class_name)
        if not isinstance(cls, type):
            raise TypeError(f"{self.filename} did not define class {self.class_name} when run")
        return cls
