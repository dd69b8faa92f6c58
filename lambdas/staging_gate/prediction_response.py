"""Parse the model's serving output and compare it with a golden request's expectations. Pure.

The serving contract (model_repo/inference.py): `application/json` answers
`{"predictions": [{"label": 0|1, "probability": p}, ...]}`, `text/csv`
answers one `label,probability` line per row; `probability` is that of
class 1. Anything else is a malformed response, never a pass.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from function_kit.input_limits import BoundedJsonError, parse_bounded_json

from .golden_requests import RowExpectation

__all__ = [
    "MalformedResponseError",
    "Prediction",
    "mismatches",
    "parse_predictions",
]

_EXCERPT_CHARS = 120


class MalformedResponseError(ValueError):
    """The endpoint's answer does not follow the serving contract."""


@dataclass(frozen=True)
class Prediction:
    """One row's prediction: the label and the probability of class 1."""

    label: int
    probability: float

    def describe(self) -> str:
        """`label 1, probability 0.97`."""
        return f"label {self.label}, probability {self.probability!r}"


def _excerpt(body: bytes) -> str:
    text = body[:_EXCERPT_CHARS].decode("utf-8", errors="replace")
    return repr(text + ("…" if len(body) > _EXCERPT_CHARS else ""))


def _label(value: Any, where: str) -> int:
    if isinstance(value, bool) or value not in (0, 1) or not isinstance(value, int):
        raise MalformedResponseError(f"{where}: label {value!r} is not 0 or 1")
    return value


def _probability(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise MalformedResponseError(f"{where}: probability {value!r} is not a finite number")
    if not 0.0 <= value <= 1.0:
        raise MalformedResponseError(f"{where}: probability {value!r} is not within [0, 1]")
    return float(value)


def _parse_json(body: bytes) -> list[Prediction]:
    try:
        document = parse_bounded_json(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise MalformedResponseError(f"response is not valid JSON: {_excerpt(body)}") from None
    except BoundedJsonError as error:  # not JSON, or nesting, size or numbers beyond function_kit.input_limits
        raise MalformedResponseError(f"response is not valid JSON ({error}): {_excerpt(body)}") from None
    predictions = document.get("predictions") if isinstance(document, dict) else None
    if not isinstance(predictions, list):
        raise MalformedResponseError(f"response has no predictions list: {_excerpt(body)}")
    parsed = []
    for index, item in enumerate(predictions):
        where = f"predictions[{index}]"
        if not isinstance(item, dict):
            raise MalformedResponseError(f"{where} is not an object")
        parsed.append(Prediction(_label(item.get("label"), where), _probability(item.get("probability"), where)))
    return parsed


def _parse_csv(body: bytes) -> list[Prediction]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedResponseError(f"response is not UTF-8 text: {_excerpt(body)}") from None
    parsed = []
    for index, line in enumerate(row for row in text.splitlines() if row.strip()):
        where = f"response line {index + 1}"
        fields = [field.strip() for field in line.split(",")]
        if len(fields) != 2:
            raise MalformedResponseError(f"{where}: expected 'label,probability', got {line[:_EXCERPT_CHARS]!r}")
        try:
            label: Any = int(fields[0])
            probability: Any = float(fields[1])
        except ValueError:
            raise MalformedResponseError(f"{where}: expected 'label,probability', got {line[:_EXCERPT_CHARS]!r}") from None
        parsed.append(Prediction(_label(label, where), _probability(probability, where)))
    return parsed


def parse_predictions(body: bytes, *, accept: str, content_type: str | None, rows: int) -> tuple[Prediction, ...]:
    """The predictions in `body`, one per row requested, or `MalformedResponseError`.

    `content_type` is the response's Content-Type header (parameters such as
    `charset` are ignored); when present it must match what was accepted.
    """
    if content_type:
        media_type = content_type.split(";", 1)[0].strip().lower()
        if media_type != accept:
            raise MalformedResponseError(f"response Content-Type is {content_type!r}, expected {accept!r}")
    predictions = _parse_json(body) if accept == "application/json" else _parse_csv(body)
    if len(predictions) != rows:
        raise MalformedResponseError(f"response holds {len(predictions)} prediction(s) for {rows} row(s) sent")
    return tuple(predictions)


def mismatches(predictions: Sequence[Prediction], expectations: Sequence[RowExpectation]) -> list[str]:
    """One line per row whose prediction misses its expectation (empty when all match)."""
    problems = []
    for index, (got, expected) in enumerate(zip(predictions, expectations, strict=True)):
        label_ok = got.label == expected.label
        probability_ok = expected.probability is None or expected.probability.holds(got.probability)
        if not (label_ok and probability_ok):
            problems.append(f"row {index}: expected {expected.describe()}, got {got.describe()}")
    return problems
