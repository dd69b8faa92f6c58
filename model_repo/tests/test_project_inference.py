"""inference.py: the serving functions, round trips and refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import inference
from dataset import load_labelled_csv

HOLDOUT = Path(inference.__file__).parent / "data" / "holdout.csv"


@pytest.fixture(scope="module")
def rows() -> np.ndarray:
    features, _ = load_labelled_csv(HOLDOUT)
    return features[:5]


@pytest.fixture(scope="module")
def model(trained_model_dir: Path):
    return inference.model_fn(str(trained_model_dir))


def _serve(model, body, content_type: str, accept: str | None) -> tuple[str, str]:
    return inference.output_fn(inference.predict_fn(inference.input_fn(body, content_type), model), accept)


def test_json_round_trip(model, rows: np.ndarray) -> None:
    body, content_type = _serve(model, json.dumps({"instances": rows.tolist()}), "application/json", None)
    assert content_type == "application/json"
    predictions = json.loads(body)["predictions"]
    expected = model.predict_proba(rows)[:, 1]
    assert [p["label"] for p in predictions] == model.predict(rows).tolist()
    assert np.allclose([p["probability"] for p in predictions], expected)
    assert all(set(p) == {"label", "probability"} and p["label"] in (0, 1) for p in predictions)


def test_csv_round_trip_with_bytes_and_charset(model, rows: np.ndarray) -> None:
    request = "\n".join(",".join(repr(float(v)) for v in row) for row in rows).encode()
    body, content_type = _serve(model, request, "text/csv; charset=utf-8", "text/csv")
    assert content_type == "text/csv"
    lines = body.splitlines()
    assert len(lines) == 5
    labels = [int(line.split(",")[0]) for line in lines]
    probabilities = [float(line.split(",")[1]) for line in lines]
    assert labels == model.predict(rows).tolist()
    assert np.allclose(probabilities, model.predict_proba(rows)[:, 1])


def test_json_and_csv_requests_agree(model, rows: np.ndarray) -> None:
    from_json = _serve(model, json.dumps({"instances": rows.tolist()}), "application/json", "application/json")[0]
    from_csv = _serve(
        model, "\n".join(",".join(repr(float(v)) for v in r) for r in rows), "text/csv", "application/json"
    )[0]
    assert from_json == from_csv


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        ("1,2,3", "text/csv", "must have 30 values"),
        ("a," * 29 + "a", "text/csv", "not 30 comma-separated numbers"),
        ("", "text/csv", "no rows"),
        ("{not json", "application/json", "invalid JSON"),
        ('{"rows": []}', "application/json", '"instances"'),
        ('{"instances": []}', "application/json", "no rows"),
        ('{"instances": [[1, 2]]}', "application/json", "must have 30 values"),
        (json.dumps({"instances": [["x"] * 30]}), "application/json", "non-numeric"),
        (json.dumps({"instances": [[True] * 30]}), "application/json", "non-numeric"),
        ("nan," * 29 + "nan", "text/csv", "non-finite"),
        ("1", "application/x-npy", "unsupported content type"),
        (b"\xff\xfe", "text/csv", "not UTF-8"),
    ],
)
def test_bad_payloads_raise_value_error_naming_the_problem(body, content_type: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        inference.input_fn(body, content_type)


def test_unsupported_accept_raises_value_error(model, rows: np.ndarray) -> None:
    prediction = inference.predict_fn(rows, model)
    with pytest.raises(ValueError, match="unsupported accept"):
        inference.output_fn(prediction, "application/x-protobuf")
    assert inference.output_fn(prediction, "*/*")[1] == "application/json"
