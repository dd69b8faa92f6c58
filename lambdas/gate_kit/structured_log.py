"""Single-line, structured log messages for the gate functions.

CloudWatch Logs Insights parses one JSON object per line; multi-line
tracebacks and free text are hard to query. Callers pass only fields they
chose: nothing here ever serialises an event or credentials.
"""

from __future__ import annotations

import json
import logging
from typing import Any

__all__ = ["gate_logger", "log_fields", "quiet_sdk_debug_logs"]

_SDK_LOGGERS = ("botocore", "boto3", "s3transfer")


def quiet_sdk_debug_logs() -> None:
    """Keep the AWS SDK at INFO or above, whatever the function's log level.

    The SDK's DEBUG output prints signed request headers: the access key id
    and session token of whatever credentials a client uses, the job's
    artifact credentials included. Called at import and again for every job,
    since anything (a log-level change, a test harness) may reset a level.
    """
    for name in _SDK_LOGGERS:
        sdk_logger = logging.getLogger(name)
        if sdk_logger.getEffectiveLevel() < logging.INFO:
            sdk_logger.setLevel(logging.INFO)


quiet_sdk_debug_logs()


def gate_logger(name: str) -> logging.Logger:
    """The logger a gate function writes to (INFO and above reach CloudWatch)."""
    logger = logging.getLogger(name)
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.INFO)
    return logger


def log_fields(logger: logging.Logger, level: int, message: str, **fields: Any) -> None:
    """Log `message` with `fields` as one line of JSON (non-JSON values become strings)."""
    if not logger.isEnabledFor(level):
        return
    payload = {"message": message, **fields}
    logger.log(
        level, json.dumps(payload, default=str, sort_keys=True, ensure_ascii=False)
    )
