"""Parse and validate `golden-requests.jsonl` (format: docs/golden-requests.md). Pure.

One JSON object per line names a request to send to the staging endpoint and
the prediction each of its rows must get back. The file is validated strictly
before anything is sent: a malformed line fails the gate closed with one
message naming the line and the key.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from function_kit.input_limits import BoundedJsonError, InvalidJsonError, parse_bounded_json

__all__ = [
    "CONTENT_TYPES",
    "MAX_GOLDEN_REQUESTS",
    "GoldenRequest",
    "GoldenRequestsError",
    "ProbabilityBounds",
    "RowExpectation",
    "parse_golden_requests",
]

CONTENT_TYPES = ("text/csv", "application/json")
"""The serving contract's two request and response formats."""

MAX_GOLDEN_REQUESTS = 100
"""More requests would not make the gate stricter, only slower."""

_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_REQUEST_KEYS = ("name", "description", "content_type", "accept", "body", "expect")
_EXPECT_KEYS = ("label", "probability")
_PROBABILITY_KEYS = ("min", "max")


class GoldenRequestsError(ValueError):
    """The golden requests file is malformed; the message names the line and key."""


@dataclass(frozen=True)
class ProbabilityBounds:
    """Inclusive bounds on the returned probability of class 1."""

    min: float | None = None
    max: float | None = None

    def holds(self, probability: float) -> bool:
        """True when `probability` is within both bounds."""
        return (self.min is None or probability >= self.min) and (self.max is None or probability <= self.max)

    def describe(self) -> str:
        """`>= 0.8`, `<= 0.2` or `within [0.4, 0.6]`."""
        if self.min is not None and self.max is not None:
            return f"within [{self.min!r}, {self.max!r}]"
        return f">= {self.min!r}" if self.min is not None else f"<= {self.max!r}"


@dataclass(frozen=True)
class RowExpectation:
    """What one row of a request must be predicted as."""

    label: int
    probability: ProbabilityBounds | None = None

    def describe(self) -> str:
        """`label 1, probability >= 0.8`."""
        text = f"label {self.label}"
        return f"{text}, probability {self.probability.describe()}" if self.probability else text


@dataclass(frozen=True)
class GoldenRequest:
    """One request: its payload as sent, and one expectation per row."""

    name: str
    content_type: str
    accept: str
    body: bytes
    expect: tuple[RowExpectation, ...]
    line: int


def _where(origin: str, line: int, key: str | None = None) -> str:
    return f"{origin} line {line}" + (f": {key}" if key else "")


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise GoldenRequestsError(f"{where}: {value!r} is not a finite number")
    return float(value)


def _reject_unknown(mapping: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
    for key in mapping:
        if key not in allowed:
            raise GoldenRequestsError(f"{where}.{key}: unknown key (allowed: {', '.join(allowed)})")


def _parse_probability(raw: Any, where: str) -> ProbabilityBounds:
    if not isinstance(raw, Mapping):
        raise GoldenRequestsError(f"{where}: expected an object with min and/or max")
    _reject_unknown(raw, _PROBABILITY_KEYS, where)
    bounds = {key: _number(raw[key], f"{where}.{key}") for key in _PROBABILITY_KEYS if key in raw}
    if not bounds:
        raise GoldenRequestsError(f"{where}: sets no bound (expected min and/or max)")
    for key, value in bounds.items():
        if not 0.0 <= value <= 1.0:
            raise GoldenRequestsError(f"{where}.{key}: {value!r} is not a probability within [0, 1]")
    if "min" in bounds and "max" in bounds and bounds["min"] > bounds["max"]:
        raise GoldenRequestsError(f"{where}: min {bounds['min']!r} is above max {bounds['max']!r}")
    return ProbabilityBounds(min=bounds.get("min"), max=bounds.get("max"))


def _parse_expectation(raw: Any, where: str) -> RowExpectation:
    if not isinstance(raw, Mapping):
        raise GoldenRequestsError(f"{where}: expected an object with label (and optionally probability)")
    _reject_unknown(raw, _EXPECT_KEYS, where)
    label = raw.get("label")
    if isinstance(label, bool) or label not in (0, 1) or not isinstance(label, int):
        raise GoldenRequestsError(f"{where}.label: {label!r} is not 0 or 1")
    probability = _parse_probability(raw["probability"], f"{where}.probability") if "probability" in raw else None
    return RowExpectation(label=label, probability=probability)


def _content_type(raw: Mapping[str, Any], key: str, where: str, default: str | None = None) -> str:
    value = raw.get(key, default)
    if value not in CONTENT_TYPES:
        raise GoldenRequestsError(f"{where}: {key}: {value!r} is not one of {', '.join(CONTENT_TYPES)}")
    return str(value)


def _encode_body(raw: Mapping[str, Any], content_type: str, where: str) -> tuple[bytes, int]:
    """The payload as sent and its number of rows."""
    body = raw.get("body")
    if content_type == "text/csv":
        if not isinstance(body, str) or not body.strip():
            raise GoldenRequestsError(f"{where}: body: a text/csv request needs a non-empty string")
        rows = [line for line in body.splitlines() if line.strip()]
        return "\n".join(rows).encode("utf-8") + b"\n", len(rows)
    instances = body.get("instances") if isinstance(body, Mapping) else None
    if not isinstance(instances, list) or not instances:
        raise GoldenRequestsError(f"{where}: body: an application/json request needs an object with a non-empty instances list")
    return json.dumps(body, separators=(",", ":"), allow_nan=False).encode("utf-8"), len(instances)


def _line_object(text: str, where: str) -> Mapping[str, Any]:
    """The line as a JSON object holding only known keys and every required one."""
    try:
        raw = parse_bounded_json(text)
    except InvalidJsonError as error:
        raise GoldenRequestsError(f"{where}: not valid JSON: {error}") from None
    except BoundedJsonError as error:  # nesting or number length beyond function_kit.input_limits
        raise GoldenRequestsError(f"{where}: refused: {error}") from None
    if not isinstance(raw, Mapping):
        raise GoldenRequestsError(f"{where}: expected a JSON object, got {type(raw).__name__}")
    for key in raw:
        if key not in _REQUEST_KEYS:
            raise GoldenRequestsError(f"{where}: {key}: unknown key (allowed: {', '.join(_REQUEST_KEYS)})")
    for key in ("name", "content_type", "body", "expect"):
        if key not in raw:
            raise GoldenRequestsError(f"{where}: {key}: missing")
    return raw


def _expectations(raw: Mapping[str, Any], rows: int, where: str) -> tuple[RowExpectation, ...]:
    """One expectation per row of the body."""
    expect_raw = raw["expect"]
    if not isinstance(expect_raw, list) or not expect_raw:
        raise GoldenRequestsError(f"{where}: expect: expected a non-empty list, one expectation per row")
    if len(expect_raw) != rows:
        raise GoldenRequestsError(f"{where}: expect: {len(expect_raw)} expectation(s) for {rows} row(s) in body")
    return tuple(_parse_expectation(item, f"{where}: expect[{index}]") for index, item in enumerate(expect_raw))


def _parse_line(text: str, line: int, origin: str) -> GoldenRequest:
    where = _where(origin, line)
    raw = _line_object(text, where)
    name = raw["name"]
    if not isinstance(name, str) or not _NAME_PATTERN.match(name):
        raise GoldenRequestsError(f"{where}: name: {name!r} is not 1-64 letters, digits, '.', '_' or '-'")
    if "description" in raw and not isinstance(raw["description"], str):
        raise GoldenRequestsError(f"{where}: description: expected a string")
    content_type = _content_type(raw, "content_type", where)
    accept = _content_type(raw, "accept", where, default=content_type)
    body, rows = _encode_body(raw, content_type, where)
    expect = _expectations(raw, rows, where)
    return GoldenRequest(name=name, content_type=content_type, accept=accept, body=body, expect=expect, line=line)


def parse_golden_requests(text: str, *, origin: str = "golden-requests.jsonl") -> tuple[GoldenRequest, ...]:
    """Every request in `text` (JSON Lines; blank lines are skipped), or `GoldenRequestsError`."""
    requests: list[GoldenRequest] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        request = _parse_line(line, number, origin)
        if request.name in seen:
            raise GoldenRequestsError(
                f"{_where(origin, number)}: name: {request.name!r} is already used on line {seen[request.name]}"
            )
        seen[request.name] = number
        requests.append(request)
    if not requests:
        raise GoldenRequestsError(f"{origin}: holds no request: the staging gate needs at least one")
    if len(requests) > MAX_GOLDEN_REQUESTS:
        raise GoldenRequestsError(f"{origin}: holds {len(requests)} requests, more than {MAX_GOLDEN_REQUESTS}")
    return tuple(requests)
