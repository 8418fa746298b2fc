"""One log format for every Hippo process: plain or JSON (HIPPO_LOG_FORMAT).

Each line carries the task and queue ids in play: code sets them with
`log_context(task=..., queue=...)` (a contextvar, so concurrent asyncio tasks keep
their own) or passes `extra={"task": ..., "queue": ...}`. As a last guard, a
password inside a URL (`scheme://user:password@host`) is masked in every line.
"""

from __future__ import annotations

import contextvars
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from hippo.shared.secrets import mask_url_passwords_in

_context: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "hippo_log_context", default=None
)
_FIELDS = ("task", "queue")


@contextmanager
def log_context(**ids: str | None) -> Iterator[None]:
    """Within this block, log lines name these ids (`task`, `queue`)."""
    token = _context.set({**(_context.get() or {}), **{k: v for k, v in ids.items() if v}})
    try:
        yield
    finally:
        _context.reset(token)


def redact(text: str) -> str:
    return mask_url_passwords_in(text)


class _ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        context = _context.get() or {}
        for name in _FIELDS:
            if not getattr(record, name, None):
                setattr(record, name, context.get(name, ""))
        return True


class PlainFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        ids = " ".join(
            f"{name}={getattr(record, name)}" for name in _FIELDS if getattr(record, name, "")
        )
        return redact(f"{line} [{ids}]" if ids else line)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in _FIELDS:
            if getattr(record, name, ""):
                entry[name] = getattr(record, name)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return redact(json.dumps(entry))


def setup_logging(level: str = "INFO", fmt: str = "plain", access_log: bool = False) -> None:
    """Configure the root logger (and uvicorn's) once per process. `access_log`: uvicorn's
    line per request (HIPPO_API_ACCESS_LOG) reaches the root handler; without it the
    access logger has no handler at all, which is what tells uvicorn to skip even
    building the line's arguments (uvicorn/protocols/http/*_impl.py: hasHandlers())."""
    import time

    handler = logging.StreamHandler()
    formatter: logging.Formatter = JsonFormatter() if fmt == "json" else PlainFormatter()
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    handler.addFilter(_ContextFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = access_log or name != "uvicorn.access"
