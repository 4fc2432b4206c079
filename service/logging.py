"""structlog setup: key=value lines for humans, JSON for log shippers.

Every line of the process takes one shape: structlog's own loggers render through
the processors below, and the standard library's (uvicorn, alembic, SQLAlchemy,
httpx, Python warnings) through a `ProcessorFormatter` on the root logger with the
same processors and renderer. Exceptions are rendered as plain tracebacks, never
with their frames' local variables (a request's locals hold its bearer token)."""

from __future__ import annotations

import logging
import sys

import structlog
from structlog.stdlib import ProcessorFormatter

_HANDLER = "oneonone"  # the root handler `configure` installs (and replaces when called again)


class _Stderr:
    """`sys.stderr` as it is when a line is written, not when logging was configured:
    whoever swaps it (pytest's capture, an embedding process) may close the old one,
    and cached loggers would then fail on every line."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure(level: str = "INFO", json: bool = False) -> None:
    # stderr: stdout belongs to commands' output (`replay --json`, tokens).
    level = level.upper()
    renderer = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(colors=False, exception_formatter=structlog.dev.plain_traceback)
    )
    shared = [
        structlog.contextvars.merge_contextvars,  # the request id
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    handler = logging.StreamHandler(_Stderr())
    handler.set_name(_HANDLER)
    handler.setFormatter(
        ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name, structlog.processors.format_exc_info],
            processors=[ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # Warnings (SQLAlchemy's SAWarning, deprecations) as log lines, not raw stderr text.
    logging.captureWarnings(True)
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(file=_Stderr()),
        cache_logger_on_first_use=True,
    )
