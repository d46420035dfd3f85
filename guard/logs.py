"""structlog set-up: JSON lines on stdout, UTC ISO timestamps; one canonical line per tick,
bound with the account and the tick id."""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog


def configure(stream: TextIO | None = None, level: int = logging.INFO) -> None:
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(default=str, sort_keys=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=stream or sys.stdout),
        cache_logger_on_first_use=False,
    )


def logger(**bound: Any) -> Any:
    """A logger bound with `bound` (e.g. service=..., account=...)."""
    return structlog.get_logger("guard").bind(**bound)


def tick_logger(account: str, tick_id: str) -> Any:
    return logger(account=account, tick_id=tick_id)
