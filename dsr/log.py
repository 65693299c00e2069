"""Logging: the library reports its steps on the ``dsr`` logger; the command line routes them.

Library code calls :func:`log_step` (``plan``, ``batch``, ``vacuum``, ``done``, ...) with counts,
table and rule names, durations and rates: never a personal-data value, and never SQL with its
parameters (SQLAlchemy's own engine logger is left alone: it would print bound values). An
embedding application gets these records through the standard :mod:`logging` machinery and
decides where they go; dsr installs no handler of its own unless :func:`configure` is called.

:func:`configure` is what ``dsr`` does for the command line: records at ``level`` and above on
stderr, as ``dsr: message`` on a terminal, as timestamped lines with the step otherwise (cron,
systemd), or as one JSON object per line (``--log-format json``, for Kubernetes log shippers).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

LOGGER = "dsr"
FORMATS = ("text", "json")
LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}

logger = logging.getLogger(LOGGER)


def get(name: str) -> logging.Logger:
    """The logger of one part of dsr (``dsr.purge``, ``dsr.erase``, ...)."""
    return logging.getLogger(f"{LOGGER}.{name}")


def log_step(log: logging.Logger, name: str, message: str, /, **fields: Any) -> None:
    """Log one step at INFO: ``message`` for people, ``fields`` (numbers, names) for machines."""
    if log.isEnabledFor(logging.INFO):
        log.info(message, extra={"step": name, "fields": fields})


class _Stderr(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (test capture, redirection)."""

    def __init__(self) -> None:
        super().__init__()
        self.dsr_installed = True

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


class TerminalFormatter(logging.Formatter):
    """``dsr: message`` (warnings and errors with their level), for a person at a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        text = record.getMessage()
        if record.levelno >= logging.WARNING:
            return f"dsr: {record.levelname.lower()}: {text}"
        return f"dsr: {text}"


class TextFormatter(logging.Formatter):
    """``2026-12-02T08:17:30.123Z INFO purge batch: message`` for log files and journald."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        millis = int(record.msecs)
        part = record.name.removeprefix(f"{LOGGER}.") if record.name != LOGGER else "dsr"
        name = getattr(record, "step", None)
        where = f"{part} {name}" if name else part
        return f"{stamp}.{millis:03d}Z {record.levelname:<7} {where}: {record.getMessage()}"


class JSONFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, step, message and the step's fields."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        data: dict[str, Any] = {
            "time": f"{stamp}.{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "step": getattr(record, "step", None),
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if fields:
            data.update({k: v for k, v in fields.items() if k not in data})
        return json.dumps(data, ensure_ascii=False, default=str)


_active: dict[str, str | None] = {"format": None}


def active_format() -> str | None:
    """The format :func:`configure` set up (``text``/``json``), None if it was not called."""
    return _active["format"]


class _NoBatches(logging.Filter):
    """On a terminal the progress line shows the batches; the log need not repeat them."""

    def filter(self, record: logging.LogRecord) -> bool:
        return getattr(record, "step", None) != "batch" or record.levelno > logging.INFO


def configure(level: str = "info", fmt: str = "text", *, terminal: bool | None = None) -> None:
    """Route dsr's records (and Alembic's, during ``dsr migrate``) to stderr; idempotent."""
    if terminal is None:
        terminal = sys.stderr.isatty()
    _active["format"] = fmt
    if fmt == "json":
        formatter: logging.Formatter = JSONFormatter()
    elif terminal:
        formatter = TerminalFormatter()
    else:
        formatter = TextFormatter()
    for name in (LOGGER, "alembic"):
        target = logging.getLogger(name)
        for old in [h for h in target.handlers if getattr(h, "dsr_installed", False)]:
            target.removeHandler(old)
        handler = _Stderr()
        handler.setFormatter(formatter)
        if terminal and fmt != "json":
            handler.addFilter(_NoBatches())
        target.addHandler(handler)
        target.setLevel(LEVELS[level] if name == LOGGER else max(LEVELS[level], logging.INFO))
        target.propagate = False
