"""Log lines: plain or JSON, with task and queue ids, never a URL password."""

from __future__ import annotations

import json
import logging

import pytest

from hippo.shared.logs import JsonFormatter, PlainFormatter, _ContextFilter, log_context


def _format(formatter: logging.Formatter, message: str, *args: object, **extra: str) -> str:
    record = logging.LogRecord("hippo.test", logging.INFO, __file__, 1, message, args, None)
    for name, value in extra.items():
        setattr(record, name, value)
    _ContextFilter().filter(record)
    return formatter.format(record)


def test_plain_line_names_the_ids_in_context() -> None:
    with log_context(queue="q1"), log_context(task="t1.abc"):
        line = _format(PlainFormatter(), "poll failed: %s", "timeout")
    assert line.endswith("hippo.test: poll failed: timeout [task=t1.abc queue=q1]")


def test_json_line_has_the_ids_as_fields() -> None:
    entry = json.loads(_format(JsonFormatter(), "launched", task="t2.def"))
    assert entry["message"] == "launched"
    assert entry["task"] == "t2.def"
    assert entry["level"] == "INFO"
    assert "queue" not in entry


@pytest.mark.parametrize("formatter", [PlainFormatter(), JsonFormatter()])
@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql://app:hunter2@db:5432/jobs", "postgresql://app:********@db:5432/jobs"),
        ("redis://:hunter2@cache:6379/0", "redis://:********@cache:6379/0"),
        ("mysql+pymysql://root:hunter2@db/test", "mysql+pymysql://root:********@db/test"),
        ("jdbc:postgresql://app:hunter2@db/x", "jdbc:postgresql://app:********@db/x"),
    ],
)
def test_url_passwords_never_reach_a_line(
    formatter: logging.Formatter, url: str, masked: str
) -> None:
    line = _format(formatter, "cannot connect to %s", url)
    assert "hunter2" not in line
    assert masked in line


@pytest.mark.parametrize("access_log", [False, True])
def test_uvicorns_access_logger_has_a_handler_only_when_asked(access_log: bool) -> None:
    # uvicorn builds each request's access line only when this logger has a handler
    # (uvicorn/protocols/http/httptools_impl.py: hasHandlers()), its own or the root's.
    from hippo.shared.logs import setup_logging

    root = logging.getLogger()
    names = ("uvicorn", "uvicorn.error", "uvicorn.access")
    saved = [(logging.getLogger(n).handlers[:], logging.getLogger(n).propagate) for n in names]
    saved_root = (root.handlers[:], root.level)
    try:
        setup_logging("INFO", "plain", access_log)
        assert logging.getLogger("uvicorn.access").hasHandlers() is access_log
        assert logging.getLogger("uvicorn.error").hasHandlers()  # its lines still show
    finally:
        root.handlers[:] = saved_root[0]
        root.setLevel(saved_root[1])
        for name, (handlers, propagate) in zip(names, saved, strict=True):
            logging.getLogger(name).handlers[:] = handlers
            logging.getLogger(name).propagate = propagate
