"""structlog setup: key=value lines for humans, JSON for log shippers."""

from __future__ import annotations

import logging
import sys

import structlog


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
    logging.basicConfig(level=level, format="%(message)s", stream=_Stderr())
    renderer = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=_Stderr()),
        cache_logger_on_first_use=True,
    )
