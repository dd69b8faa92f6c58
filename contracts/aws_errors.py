"""How an AWS error (or any exception) becomes one line of text. Standard library only.

Duck-typed on botocore's `ClientError`, which carries the service's answer as
`error.response = {"Error": {"Code": ..., "Message": ...}, ...}` ("The
`ClientError` ... `response` attribute ... contains the `Error` dictionary with
`Code` and `Message`", botocore error-handling guide), so neither the functions
nor the tools have to import botocore to read it. Every function, `release_tools`
and the rehearsal describe errors through these three functions:

- `aws_error_code`: the service's error code, or None (to branch on, e.g. `ResourceNotFound`);
- `describe_aws_error`: `Code: first line of Message` (or the code alone, or the exception
  type when the service gave no code): what a failure message or a record shows;
- `describe_exception`: `Type: first line` of any exception (an unexpected error, one line,
  never a traceback).
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["MAX_MESSAGE_CHARS", "aws_error_code", "code_or_type", "describe_aws_error", "describe_exception"]

MAX_MESSAGE_CHARS = 200
"""The most of the service's message (its first line) a description keeps."""


def _error_fields(error: BaseException) -> Mapping[str, object]:
    response = getattr(error, "response", None)
    fields = response.get("Error") if isinstance(response, Mapping) else None
    return fields if isinstance(fields, Mapping) else {}


def aws_error_code(error: BaseException) -> str | None:
    """The AWS error code of a `ClientError` (e.g. `NoSuchKey`), None for anything else."""
    code = _error_fields(error).get("Code")
    return str(code) if code else None


def code_or_type(error: BaseException) -> str:
    """The AWS error code, else the exception's type name: the shortest description."""
    return aws_error_code(error) or type(error).__name__


def _first_line(text: object, limit: int | None) -> str:
    lines = str(text or "").strip().splitlines()
    first = lines[0].strip() if lines else ""
    return first[:limit] if limit is not None else first


def describe_aws_error(error: BaseException) -> str:
    """`Code: first line of the message` (at most 200 characters of it), `Code`, or the type name."""
    code = aws_error_code(error)
    if code is None:
        return type(error).__name__
    message = _first_line(_error_fields(error).get("Message"), MAX_MESSAGE_CHARS)
    return f"{code}: {message}" if message else code


def describe_exception(error: BaseException) -> str:
    """`Type: first line of the exception's text` (or the type alone): one line, no traceback."""
    first = _first_line(error, None)
    return f"{type(error).__name__}: {first}" if first else type(error).__name__
