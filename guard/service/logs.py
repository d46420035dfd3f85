"""structlog set-up: JSON lines on stdout, UTC ISO timestamps; one canonical line per tick,
bound with the account and the tick id."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
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


@contextmanager
def logging_to(stream: TextIO, level: int = logging.INFO) -> Iterator[None]:
    """Log lines go to `stream` inside the block; the set-up before it is restored after it."""
    previous = structlog.get_config()
    configure(stream=stream, level=level)
    try:
        yield
    finally:
        structlog.configure(**previous)


def logger(**bound: Any) -> Any:
    """A logger bound with `bound` (e.g. service=..., account=...)."""
    return structlog.get_logger("guard").bind(**bound)


def tick_logger(account: str, tick_id: str) -> Any:
    return logger(account=account, tick_id=tick_id)
