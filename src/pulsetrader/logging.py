"""Logging: loguru configured from LOG_LEVEL, with secrets redacted in every sink.

Sinks: coloured console on stderr, a rotating plain-text file under ``LOG_DIR``, and optionally a
rotating JSON-lines file (``LOG_JSON=true``). Every record goes through :func:`_redact_record`
before any sink sees it: the message, every bound extra (recursively) and the exception, whose
traceback is formatted and redacted here and carried as text, because loguru would otherwise
format it again from the live exception object, secrets included. ``diagnose`` is off so variable
values never appear in tracebacks.

The standard library's ``logging`` (alpaca-py, websockets, uvicorn) is routed into loguru so the
same redaction applies to third-party records.
"""

from __future__ import annotations

import logging as std_logging
import sys
import traceback
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loguru import logger

from pulsetrader.secrets import Redactor, redactor

if TYPE_CHECKING:
    from loguru import Message, Record

__all__ = ["logger", "setup_logging"]

_CONSOLE_FORMAT = (
    "<green>{time:YYYY-MM-DD HH:mm:ss.SSS}</green> | <level>{level: <8}</level> | "
    "<cyan>{name}</cyan>:<cyan>{line}</cyan> - <level>{message}</level>{extra[_extras]}"
)
_FILE_FORMAT = (
    "{time:YYYY-MM-DDTHH:mm:ss.SSSSSSZZ} | {level: <8} | "
    "{name}:{function}:{line} - {message}{extra[_extras]}"
)


def _redact_value(value: Any, red: Redactor, depth: int = 0) -> Any:
    if depth > 5:
        return red.redact(repr(value))
    if isinstance(value, str):
        return red.redact(value)
    if isinstance(value, bool | int | float) or value is None:
        return value
    if isinstance(value, Mapping):
        return {str(k): _redact_value(v, red, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_redact_value(v, red, depth + 1) for v in value]
    return red.redact(str(value))


def _format_exception(record: Record, red: Redactor) -> str:
    exc = record["exception"]
    if exc is None or exc.type is None:
        return ""
    text = "".join(traceback.format_exception(exc.type, exc.value, exc.traceback))
    return red.redact(text)


def make_patcher(red: Redactor = redactor) -> Any:
    """A loguru patcher that redacts a record in place, before any sink formats it."""

    def patch(record: Record) -> None:
        record["message"] = red.redact(record["message"])
        extra = record["extra"]
        clean: dict[str, Any] = {}
        for key, value in list(extra.items()):
            if key.startswith("_"):
                continue
            clean[key] = _redact_value(value, red)
            extra[key] = clean[key]
        tb_text = _format_exception(record, red)
        if tb_text:
            extra["traceback"] = tb_text
            record["exception"] = None
        # Rendered once here so the text formats need no per-sink logic.
        rendered = "".join(f" {k}={v}" for k, v in clean.items())
        if tb_text:
            rendered += "\n" + tb_text.rstrip("\n")
        extra["_extras"] = rendered

    return patch


class _InterceptHandler(std_logging.Handler):
    """Forwards standard-library log records to loguru (and so through redaction)."""

    def emit(self, record: std_logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        logger.opt(depth=6, exception=record.exc_info).log(level, record.getMessage())


def _stderr_sink(message: Message) -> None:
    # A last pass on the final text: cheap, and covers anything a custom format might add.
    sys.stderr.write(redactor.redact(str(message)))


def setup_logging(
    level: str = "INFO",
    log_dir: Path | None = Path("logs"),
    *,
    json_lines: bool = False,
    secrets: Iterable[str] = (),
    console: bool = True,
) -> None:
    """(Re)configure every sink. Safe to call more than once (tests, then the engine)."""
    for secret in secrets:
        redactor.add(secret)
    level = level.upper()
    logger.remove()
    logger.configure(patcher=make_patcher(redactor), extra={"_extras": ""})
    if console:
        logger.add(
            _stderr_sink,
            level=level,
            format=_CONSOLE_FORMAT,
            colorize=sys.stderr.isatty(),
            backtrace=False,
            diagnose=False,
        )
    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True)
        logger.add(
            log_dir / "pulsetrader.log",
            level=level,
            format=_FILE_FORMAT,
            rotation="10 MB",
            retention=10,
            encoding="utf-8",
            backtrace=False,
            diagnose=False,
            enqueue=False,
        )
        if json_lines:
            logger.add(
                log_dir / "pulsetrader.jsonl",
                level=level,
                serialize=True,
                rotation="10 MB",
                retention=10,
                encoding="utf-8",
                backtrace=False,
                diagnose=False,
            )
    std_logging.basicConfig(handlers=[_InterceptHandler()], level=0, force=True)
    for noisy in ("urllib3", "websockets", "asyncio", "aiohttp.access"):
        std_logging.getLogger(noisy).setLevel(std_logging.WARNING)
