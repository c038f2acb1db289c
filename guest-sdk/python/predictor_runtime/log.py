"""Lines into the deployment's log, with a level. ``print`` also lands there (INFO)."""

from wit_world.imports import log as _host
from wit_world.imports.log import Level


def _write(level: Level, message: str) -> None:
    _host.write(level, str(message))


def debug(message: str) -> None:
    _write(Level.DEBUG, message)


def info(message: str) -> None:
    _write(Level.INFO, message)


def warning(message: str) -> None:
    _write(Level.WARN, message)


def error(message: str) -> None:
    _write(Level.ERROR, message)
