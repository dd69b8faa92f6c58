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

_SDK_LOGGERS = ("botocore", "boto3", "s3transfer", "urllib3")


def _is_sdk_logger(name: str) -> bool:
    return any(name == root or name.startswith(f"{root}.") for root in _SDK_LOGGERS)


def quiet_sdk_debug_logs() -> None:
    """Keep the AWS SDK and its HTTP library at INFO or above, whatever the function's log level.

    The SDK's DEBUG output prints signed request headers: the access key id
    and session token of whatever credentials a client uses, the job's
    artifact credentials included. A child logger with a level of its own
    (`botocore.endpoint` set to DEBUG) ignores its parent's, so every existing
    logger under the SDK's names is held at INFO, not only the parents. A
    logger created later has no level of its own and inherits INFO. Called at
    import and again for every job, since anything (a log-level change, a
    test harness, `boto3.set_stream_logger`) may set a level in between.
    """
    existing = [name for name in list(logging.root.manager.loggerDict) if _is_sdk_logger(name)]
    for name in {*_SDK_LOGGERS, *existing}:
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
    logger.log(level, json.dumps(payload, default=str, sort_keys=True, ensure_ascii=False))
