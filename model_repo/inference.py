"""Serving functions for the SageMaker scikit-learn container.

The container loads this file (``SAGEMAKER_PROGRAM=inference.py``) from
``/opt/ml/model/code`` and calls ``model_fn`` once, then per request
``input_fn`` -> ``predict_fn`` -> ``output_fn``. Runs on the container's Python
(3.10 in the 1.4-2 image), so keep to its syntax.

Requests (30 feature values per row, in the order of the training CSV columns):
  ``text/csv``          one row per line, no header
  ``application/json``  ``{"instances": [[30 numbers], ...]}``
Responses (``Accept``; default ``application/json``):
  ``application/json``  ``{"predictions": [{"label": 0|1, "probability": p}, ...]}``
  ``text/csv``          one ``label,probability`` line per row
``probability`` is the probability of class 1. A malformed payload or an
unsupported content type raises ``ValueError`` naming the problem.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

import joblib
import numpy as np

__all__ = ["FEATURE_COUNT", "input_fn", "model_fn", "output_fn", "predict_fn"]

FEATURE_COUNT = 30
MAX_ROWS = 10_000
JSON = "application/json"
CSV = "text/csv"


def model_fn(model_dir: str) -> Any:
    """Load the fitted pipeline written by ``train.py``."""
    return joblib.load(os.path.join(model_dir, "model.joblib"))


def _media_type(header: str | None) -> str:
    """``'text/csv; charset=utf-8'`` -> ``'text/csv'``."""
    return (header or "").split(";", 1)[0].strip().lower()


def _check_rows(rows: list, source: str) -> np.ndarray:
    if not rows:
        raise ValueError(f"{source}: no rows to predict")
    if len(rows) > MAX_ROWS:
        raise ValueError(f"{source}: {len(rows)} rows exceed the limit of {MAX_ROWS}")
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, list) or len(row) != FEATURE_COUNT:
            size = len(row) if isinstance(row, list) else type(row).__name__
            raise ValueError(f"{source}: row {number} must have {FEATURE_COUNT} values, got {size}")
        for value in row:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"{source}: row {number} has a non-numeric or non-finite value {value!r}")
    return np.asarray(rows, dtype=np.float64)


def _parse_csv(text: str) -> np.ndarray:
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append([float(cell) for cell in line.split(",")])
        except ValueError:
            raise ValueError(f"text/csv: line {number} is not {FEATURE_COUNT} comma-separated numbers") from None
    return _check_rows(rows, "text/csv")


def _parse_json(text: str) -> np.ndarray:
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"application/json: invalid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("instances"), list):
        raise ValueError('application/json: expected {"instances": [[...30 numbers...], ...]}')
    return _check_rows(payload["instances"], "application/json")


def input_fn(request_body: bytes | str, request_content_type: str) -> np.ndarray:
    """Decode a request into an ``(n, 30)`` float array."""
    if isinstance(request_body, (bytes, bytearray)):
        try:
            request_body = request_body.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError("request body is not UTF-8 text") from None
    media_type = _media_type(request_content_type)
    if media_type == CSV:
        return _parse_csv(request_body)
    if media_type == JSON:
        return _parse_json(request_body)
    raise ValueError(f"unsupported content type {request_content_type!r}; use {CSV} or {JSON}")


def predict_fn(input_data: np.ndarray, model: Any) -> list[dict[str, float | int]]:
    """Label and probability of class 1 for every row."""
    classes = list(model.classes_)
    probability = model.predict_proba(input_data)[:, classes.index(1)]
    labels = model.predict(input_data)
    return [{"label": int(label), "probability": float(p)} for label, p in zip(labels, probability, strict=True)]


def output_fn(prediction: list[dict[str, float | int]], accept: str | None) -> tuple[str, str]:
    """Encode predictions; returns ``(body, content_type)`` as the container expects."""
    for candidate in (accept or JSON).split(","):
        media_type = _media_type(candidate)
        if media_type in (JSON, "*/*", "application/*", ""):
            return json.dumps({"predictions": prediction}), JSON
        if media_type in (CSV, "text/*"):
            return "".join(f"{row['label']},{row['probability']!r}\n" for row in prediction), CSV
    raise ValueError(f"unsupported accept type {accept!r}; use {JSON} or {CSV}")
