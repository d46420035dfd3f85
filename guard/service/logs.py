"""structlog set-up: JSON lines on one stream, UTC ISO timestamps; one canonical line per tick,
bound with the account and the tick id. Every library's stdlib log record (ccxt, APScheduler,
aiohttp, alembic, asyncio, warnings) is rendered to the same JSON by structlog's
ProcessorFormatter and written under the same lock as guard's own lines: no plain-text line."""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any, TextIO

import structlog
from structlog.stdlib import ProcessorFormatter
from structlog.types import Processor

_TIME = structlog.processors.TimeStamper(fmt="iso", utc=True)
# Libraries whose info lines repeat on every tick ("Running job …", "… executed successfully"):
# only their warnings and errors (e.g. "skipped: maximum number of running instances") are kept.
CHATTY = {"apscheduler": logging.WARNING}


def _render() -> Processor:
    return structlog.processors.JSONRenderer(default=str, sort_keys=False)


class JsonLines(logging.Handler):
    """A stdlib handler writing each record as one JSON line through structlog's PrintLogger, so
    library lines and guard's own lines share one write lock and never interleave."""

    def __init__(self, stream: TextIO | None, level: int) -> None:
        """`stream` None: whatever sys.stdout is when a record is written (a command run
        in-process, e.g. by a test runner, swaps sys.stdout and closes its stand-in after)."""
        super().__init__(level)
        self.stream = stream
        self.setFormatter(
            ProcessorFormatter(
                processors=[
                    ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info,
                    _render(),
                ],
                foreign_pre_chain=[
                    structlog.stdlib.add_log_level,
                    structlog.stdlib.add_logger_name,
                    _TIME,
                ],
            )
        )

    def emit(self, record: logging.LogRecord) -> None:
        try:
            structlog.PrintLogger(file=self.stream or sys.stdout).msg(self.format(record))
        except Exception:  # logging must never stop the guard
            self.handleError(record)


def configure(stream: TextIO | None = None, level: int = logging.INFO) -> None:
    """guard's lines and every library's (the root logger's) as JSON on `stream` (stdout)."""
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            _TIME,
            structlog.processors.format_exc_info,
            _render(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )
    _route_stdlib(JsonLines(stream, level), level)


def _route_stdlib(handler: logging.Handler | None, level: int) -> None:
    """Replace the root logger's JSON handler (one at a time; other handlers, e.g. pytest's, stay)."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, JsonLines)]:
        root.removeHandler(old)
    if handler is not None:
        root.addHandler(handler)
        root.setLevel(level)
        for name, floor in CHATTY.items():
            logging.getLogger(name).setLevel(max(level, floor))
    logging.captureWarnings(True)  # warnings.warn(...) becomes a py.warnings log record


def install_crash_hooks() -> None:
    """Uncaught exceptions (main thread and others) are logged as critical JSON lines, not printed
    as plain tracebacks (`guard run` only: an interactive command keeps Python's own output)."""
    crash = logging.getLogger("guard.crash")

    def on_main(kind: type[BaseException], error: BaseException, tb: TracebackType | None) -> None:
        crash.critical("uncaught_exception", exc_info=(kind, error, tb))

    def on_thread(args: threading.ExceptHookArgs) -> None:
        if args.exc_value is not None:
            crash.critical(
                "uncaught_exception_in_thread %s",
                args.thread.name if args.thread else "?",
                exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
            )

    sys.excepthook = on_main
    threading.excepthook = on_thread


@contextmanager
def logging_to(stream: TextIO, level: int = logging.INFO) -> Iterator[None]:
    """Log lines go to `stream` inside the block; the set-up before it is restored after it."""
    previous = structlog.get_config()
    root = logging.getLogger()
    handlers, root_level = list(root.handlers), root.level
    configure(stream=stream, level=level)
    try:
        yield
    finally:
        structlog.configure(**previous)
        root.handlers[:] = handlers
        root.setLevel(root_level)


def logger(**bound: Any) -> Any:
    """A logger bound with `bound` (e.g. service=..., account=...)."""
    return structlog.get_logger("guard").bind(**bound)


def tick_logger(account: str, tick_id: str) -> Any:
    return logger(account=account, tick_id=tick_id)
