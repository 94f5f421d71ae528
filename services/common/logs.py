"""Structured logging: one JSON object per line on stderr (or IIB_LOG_FORMAT text when set).

Values passed with ``extra=`` become top-level keys. Known secret fields and anything that looks
like a credential in a message are masked by :class:`RedactingFilter` as a last line of defence;
the code never logs secrets on purpose.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

from services.common.config import Settings

__all__ = ["JsonFormatter", "RedactingFilter", "RedactingFormatter", "configure_logging", "redact"]

_RESERVED = set(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}
SECRET_KEYS = (
    "overwrite_from_index_token",
    "overwrite_target_index_token",
    "registry_auths",
    "cnr_token",
    "password",
    "token",
    "auth",
    "authorization",
)
_SECRET_PATTERNS = [
    # "key": "value", 'key': 'value' (a dict's repr) and key=value forms of known secret names
    re.compile(
        r"""(?i)(["']?(?:overwrite_(?:from|target)_index_token|cnr_token|password|passwd|"""
        r"""access_token|refresh_token|token|secret|auth)["']?\s*[:=]\s*["']?)([^"',}\s]+)"""
    ),
    re.compile(r"(?i)(authorization:\s*(?:basic|bearer|negotiate)\s+)(\S+)"),
    # credentials in URLs: scheme://user:password@host
    re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^/\s:@]+:)([^/\s@]+)(?=@)"),
]


def redact(text: str) -> str:
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + "*****", text)
    return text


class RedactingFilter(logging.Filter):
    """Masks credential-looking substrings and secret ``extra`` fields."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if record.args:
            record.args = tuple(
                redact(a) if isinstance(a, str) else a
                for a in (record.args if isinstance(record.args, tuple) else (record.args,))
            )
        for key in SECRET_KEYS:
            if key in record.__dict__:
                record.__dict__[key] = "*****"
        return True


class RedactingFormatter(logging.Formatter):
    """A text formatter whose whole output (tracebacks included) is redacted."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class JsonFormatter(logging.Formatter):
    """A JSON line per record: ts, level, logger, msg, extras, exc."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, default=str)


def configure_logging(
    settings: Settings, service: str, *, capture_level: str | None = None
) -> None:
    """Install the handler on the root logger with IIB_LOG_LEVEL (and IIB_ADDITIONAL_LOGGERS).

    ``capture_level`` lowers the root logger's level (not the console's) so that other handlers
    (per-request log files) can receive more detail.
    """
    # a worker (it captures request logs) takes IIB's worker level, iib_log_level, when set
    level = (settings.worker_log_level if capture_level else None) or settings.log_level
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(level)
    if settings.log_format:
        handler.setFormatter(RedactingFormatter(settings.log_format))
    else:
        handler.setFormatter(JsonFormatter(service))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    levels = [logging.getLevelName(level)]
    if capture_level:
        levels.append(logging.getLevelName(capture_level))
    root.setLevel(min(levels))
    for name in settings.additional_loggers:
        logging.getLogger(name).setLevel(level)
