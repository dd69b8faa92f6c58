"""Check every AWS request against the service model's constraints that botocore does not enforce.

botocore validates a request's types and `min` lengths before sending it; the
service also refuses a value that breaks a `pattern`, a `max` (length, size or
value), a `min` value or an `enum` of the service model (a `ValidationException`
in an account). `install()` registers one handler on botocore's event system
(`before-parameter-build`) for every client created afterwards, in any
session. The handler walks the request through structures, lists and maps;
a violation is recorded and raised as the `ValidationException` the service
would answer, so the code under test takes the path it would take in AWS, and
whoever installed the hook (the test suite's autouse fixture, `make rehearse`)
fails loudly on every recorded violation, even one the code swallowed.

Patterns are Java regular expressions (`\\p{L}`, UTF-16 surrogate pairs):
they are compiled with the `regex` package after translating surrogate pairs
to code points, and matched against the whole value, as Java's
`Pattern.matches` does.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import regex
from botocore.exceptions import ClientError

__all__ = [
    "RequestConstraintViolation",
    "Violation",
    "check_request",
    "expected_violations",
    "install",
    "observed_requests",
    "recorded_violations",
    "take_violations",
]

_MAX_SHOWN_CHARS = 80
_HANDLER_ID = "ml-cicd-request-constraints"
_SURROGATE_PAIR = regex.compile(r"\\u(D[89AB][0-9A-F]{2})\\u(D[C-F][0-9A-F]{2})", regex.IGNORECASE)
_lock = threading.Lock()
_recorded: list[Violation] = []
_installed = False
_suspended = 0  # inside `expected_violations`: record, let the request through
_observers: list[tuple[str, list[dict[str, Any]]]] = []


@dataclass(frozen=True)
class Violation:
    """One value of one request that the service would refuse."""

    service: str
    operation: str
    path: str
    value: str
    constraint: str

    def __str__(self) -> str:
        return f"{self.service} {self.operation}: {self.path} = {self.value} violates {self.constraint}"


class RequestConstraintViolation(ClientError):
    """The `ValidationException` the service would answer; the message names every violation."""

    def __init__(self, operation: str, violations: list[Violation]) -> None:
        message = "; ".join(str(violation) for violation in violations)
        super().__init__({"Error": {"Code": "ValidationException", "Message": message}}, operation)
        self.violations = violations


def _shorten(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_SHOWN_CHARS else f"{text[: _MAX_SHOWN_CHARS - 4]}...{text[-1]}"


def _java_to_python(pattern: str) -> str:
    """Java writes a supplementary code point as a UTF-16 surrogate pair; Python wants the code point."""

    def code_point(match: regex.Match[str]) -> str:
        high, low = int(match.group(1), 16), int(match.group(2), 16)
        return f"\\U{0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00):08X}"

    return _SURROGATE_PAIR.sub(code_point, pattern)


@functools.cache
def _compiled(pattern: str) -> regex.Pattern[str]:
    # Unicode semantics: Java's \p{L}, \p{N}... are Unicode (regex.ASCII would narrow them to ASCII).
    return regex.compile(_java_to_python(pattern))


def _length_violations(shape: Any, size: int, what: str) -> Iterator[str]:
    bounds = shape.metadata
    if "min" in bounds and size < bounds["min"]:
        yield f"min {what} {bounds['min']} (has {size})"
    if "max" in bounds and size > bounds["max"]:
        yield f"max {what} {bounds['max']} (has {size})"


def _scalar_violations(shape: Any, value: Any) -> Iterator[str]:
    kind, bounds = shape.type_name, shape.metadata
    if kind == "string" and isinstance(value, str):
        yield from _length_violations(shape, len(value), "length")
        if "pattern" in bounds and not _compiled(bounds["pattern"]).fullmatch(value):
            yield f"pattern {bounds['pattern']}"
        if shape.enum and value not in shape.enum:
            yield f"enum {sorted(shape.enum)}"
    elif kind in ("integer", "long", "float", "double") and isinstance(value, int | float) and not isinstance(value, bool):
        if "min" in bounds and value < bounds["min"]:
            yield f"min value {bounds['min']}"
        if "max" in bounds and value > bounds["max"]:
            yield f"max value {bounds['max']}"
    elif kind == "blob" and isinstance(value, bytes | bytearray | str):
        size = len(value.encode("utf-8") if isinstance(value, str) else value)
        yield from _length_violations(shape, size, "size")


def _walk(shape: Any, value: Any, path: str) -> Iterator[tuple[str, str, str]]:
    """(path, value as shown, constraint) for every constraint `value` breaks, recursively."""
    kind = shape.type_name
    if kind == "structure" and isinstance(value, Mapping):
        for name, member_value in value.items():
            member = shape.members.get(name)
            if member is not None:
                yield from _walk(member, member_value, f"{path}.{name}" if path else name)
    elif kind == "list" and isinstance(value, list | tuple):
        yield from ((path, f"{len(value)} items", c) for c in _length_violations(shape, len(value), "items"))
        for index, item in enumerate(value):
            yield from _walk(shape.member, item, f"{path}[{index}]")
    elif kind == "map" and isinstance(value, Mapping):
        yield from ((path, f"{len(value)} entries", c) for c in _length_violations(shape, len(value), "entries"))
        for key, item in value.items():
            yield from ((f"{path} key", _shorten(key), c) for c in _scalar_violations(shape.key, key))
            yield from _walk(shape.value, item, f"{path}[{key!r}]")
    else:
        yield from ((path, _shorten(value), c) for c in _scalar_violations(shape, value))


def check_request(operation_model: Any, params: Mapping[str, Any]) -> list[Violation]:
    """Every violation of the operation's input constraints in `params` (empty when the service would accept it)."""
    shape = operation_model.input_shape
    if shape is None:
        return []
    service = operation_model.service_model.service_name
    return [
        Violation(service, operation_model.name, path or "(request)", shown, constraint)
        for path, shown, constraint in _walk(shape, params, "")
    ]


def _before_parameter_build(params: Mapping[str, Any], model: Any, **_: Any) -> None:
    with _lock:
        for operation, seen in _observers:
            if operation == f"{model.service_model.service_name}:{model.name}":
                seen.append(dict(params))
    violations = check_request(model, params)
    if violations:
        with _lock:
            _recorded.extend(violations)
            if _suspended:
                return
        raise RequestConstraintViolation(model.name, violations)


def install() -> None:
    """Register the check on every botocore client created from now on (idempotent)."""
    global _installed
    import botocore.session

    with _lock:
        if _installed:
            return
        original = botocore.session.Session.create_client

        @functools.wraps(original)
        def create_client(self: Any, *args: Any, **kwargs: Any) -> Any:
            client = original(self, *args, **kwargs)
            client.meta.events.register("before-parameter-build", _before_parameter_build, unique_id=_HANDLER_ID)
            return client

        botocore.session.Session.create_client = create_client  # type: ignore[method-assign]
        _installed = True


def recorded_violations() -> list[Violation]:
    """The violations recorded so far (not cleared)."""
    with _lock:
        return list(_recorded)


def take_violations() -> list[Violation]:
    """The violations recorded so far; clears the record."""
    with _lock:
        taken = list(_recorded)
        _recorded.clear()
        return taken


@contextmanager
def expected_violations() -> Iterator[list[Violation]]:
    """For a test that sends an invalid request on purpose (e.g. to a local server that must refuse it).

    Inside the block violations are recorded but the requests go through; on exit they are
    handed to the caller in the yielded list and removed from the record.
    """
    global _suspended
    before = take_violations()
    found: list[Violation] = []
    with _lock:
        _suspended += 1
    try:
        yield found
    finally:
        with _lock:
            _suspended -= 1
        found.extend(take_violations())
        with _lock:
            _recorded[:0] = before


@contextmanager
def observed_requests(operation: str) -> Iterator[list[dict[str, Any]]]:
    """The parameters of every `service:Operation` request (e.g. `s3:PutObject`) made by any client in the block."""
    seen: list[dict[str, Any]] = []
    entry = (operation, seen)
    with _lock:
        _observers.append(entry)
    try:
        yield seen
    finally:
        with _lock:
            _observers.remove(entry)
