"""Exceptions a script raises on purpose, and how the adapters report the others."""

import traceback


class BadInput(ValueError):
    """The request does not fit the model: the client is answered 400 with this message."""


def describe(exc: BaseException) -> str:
    """One line for the client: the exception's type and message, and where it was raised
    in the user's script (the last frame that is not ours)."""
    where = ""
    frames = traceback.extract_tb(exc.__traceback__)
    for frame in reversed(frames):
        if "predictor_runtime" not in frame.filename and not frame.filename.endswith("_app.py"):
            where = f" (at {frame.filename}:{frame.lineno} in {frame.name})"
            break
    return f"{type(exc).__name__}: {exc}{where}"
