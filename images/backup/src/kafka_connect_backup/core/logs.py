"""structlog set-up: one JSON event per line on stderr. Secrets never reach a log: callers
never pass them, and `redact` masks any registered secret value that slips into an event."""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO, cast

import structlog

_secrets: set[str] = set()


def register_secret(value: str) -> None:
    """Mask this value wherever it would appear in a log event."""
    if value:
        _secrets.add(value)


def _redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    if not _secrets:
        return event
    for key, value in event.items():
        if isinstance(value, str):
            masked = value
            for secret in _secrets:
                if secret in masked:
                    masked = masked.replace(secret, "***")
            event[key] = masked
    return event


class _CurrentStderr:
    """Writes to whatever sys.stderr is at the time of the write, not at configure time (a
    replaced or closed stderr, as under test capture, must not break later log events)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure_logging(level: str = "INFO", stream: Any = None) -> None:
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            _redact,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(file=stream or cast(TextIO, _CurrentStderr())),
        cache_logger_on_first_use=False,
    )


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
