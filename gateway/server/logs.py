"""The gateway's logs: one JSON object per line, through structlog, never with personal data.

Enlace's modules log with the standard library (``logging.getLogger("enlace.…")``) and put
their fields in ``extra``: ``exchange_id``, ``code``, ``reason``, ``status``, ``source``, ….
``configure`` renders those records, uvicorn's own too, as JSON lines (``event``, ``level``,
``logger``, ``timestamp`` and every field), so that no field is dropped. What is logged is
chosen to carry no personal data (identifiers of exchanges and members, error codes, messages
that quote no request values); as a last guard every text value is passed through
``personal_data.redact``, which masks anything shaped like a CURP, an RFC or an e-mail address.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import IO, Any

import structlog

from gateway.kernel import personal_data


def _redact(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in event.items():
        if isinstance(value, str):
            event[key] = personal_data.redact(value)
    return event


def _exception_type(
    _logger: Any, _name: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """An exception's type only: its message or a traceback's lines could quote request data."""
    info = event.pop("exc_info", None)
    event.pop("stack_info", None)
    if isinstance(info, tuple) and info[0] is not None:
        event["exception"] = info[0].__name__
    return event


def _processors() -> list[Any]:
    return [
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _exception_type,
        _redact,
    ]


def configure(level: int = logging.INFO, stream: IO[str] | None = None) -> logging.Handler:
    """Send every log record, Enlace's and uvicorn's, to ``stream`` (stderr) as JSON lines;
    the handler installed on the root logger."""
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_processors(),
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.JSONRenderer(ensure_ascii=False, sort_keys=True),
        ],
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):  # uvicorn's records reach the root's handler
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    return handler
