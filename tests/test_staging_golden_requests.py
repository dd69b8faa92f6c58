"""The golden-requests format (strict parsing) and the shipped file (real, held-out, met by the model)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from staging_fixtures import GOLDEN_TEXT, golden_requests
from staging_gate.golden_requests import GoldenRequestsError, parse_golden_requests
from staging_gate.prediction_response import MalformedResponseError, Prediction, mismatches, parse_predictions
from staging_gate.staging_decision import p95

ROOT = Path(__file__).resolve().parent.parent
ROW = ",".join(["1.5"] * 30)
GOOD = {"name": "r1", "content_type": "text/csv", "body": ROW, "expect": [{"label": 1, "probability": {"min": 0.8}}]}


def _line(**changes: object) -> str:
    return json.dumps({key: value for key, value in {**GOOD, **changes}.items() if value is not None})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{oops", "line 1: not valid JSON"),
        ("[1, 2]", "line 1: expected a JSON object, got list"),
        (_line(extra=1), "line 1: extra: unknown key"),
        (_line(body=None), "line 1: body: missing"),
        (_line(name="has space"), "line 1: name: 'has space'"),
        (_line(content_type="text/plain"), "content_type: 'text/plain' is not one of"),
        (_line(accept="text/html"), "accept: 'text/html'"),
        (_line(content_type="application/json"), "needs an object with a non-empty instances list"),
        (_line(expect=[{"label": 1}, {"label": 0}]), "2 expectation(s) for 1 row(s)"),
        (_line(expect=[{"label": 2}]), "expect[0].label: 2 is not 0 or 1"),
        (_line(expect=[{"label": True}]), "expect[0].label: True"),
        (_line(expect=[{"label": 1, "probability": {}}]), "sets no bound"),
        (_line(expect=[{"label": 1, "probability": {"min": 1.5}}]), "1.5 is not a probability"),
        (_line(expect=[{"label": 1, "probability": {"min": 0.9, "max": 0.1}}]), "min 0.9 is above max 0.1"),
        (
            '{"name": "r1", "content_type": "text/csv", "body": "1", "expect": [{"label": 1, "probability": {"min": NaN}}]}',
            "NaN",
        ),
        (_line() + "\n\n" + _line(), "line 3: name: 'r1' is already used on line 1"),
        ("\n\n", "holds no request"),
    ],
)
def test_a_malformed_golden_file_is_refused_naming_the_line(text: str, expected: str) -> None:
    with pytest.raises(GoldenRequestsError) as error:
        parse_golden_requests(text)
    assert expected in str(error.value)


def test_a_multi_row_csv_request_counts_its_rows() -> None:
    request = parse_golden_requests(_line(body=f"{ROW}\n{ROW}\n", expect=[{"label": 1}, {"label": 0}]))[0]
    assert request.body.count(b"\n") == 2 and request.accept == "text/csv"


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        (b"<html>", "text/html", "Content-Type is 'text/html'"),
        (b'{"predictions": [{"label": 1, "probability": 1.2}]}', "application/json", "not within [0, 1]"),
        (b'{"predictions": [{"label": "1", "probability": 0.9}]}', "application/json", "label '1' is not 0 or 1"),
        (
            b'{"predictions": [{"label": 1, "probability": NaN}]}',
            "application/json",
            "predictions[0].probability is NaN, not a finite number",
        ),
        (b'{"predictions": []}', "application/json", "0 prediction(s) for 1 row(s)"),
        (b'{"result": 1}', None, "no predictions list"),
    ],
)
def test_malformed_json_answers_are_refused(body: bytes, content_type: str | None, expected: str) -> None:
    with pytest.raises(MalformedResponseError) as error:
        parse_predictions(body, accept="application/json", content_type=content_type, rows=1)
    assert expected in str(error.value)


def test_csv_answers_parse_and_mismatches_are_named() -> None:
    predictions = parse_predictions(b"1,0.97\n0,0.4\n", accept="text/csv", content_type="text/csv; charset=utf-8", rows=2)
    assert predictions == (Prediction(1, 0.97), Prediction(0, 0.4))
    expectations = parse_golden_requests(
        _line(
            body=f"{ROW}\n{ROW}",
            expect=[{"label": 1, "probability": {"min": 0.8}}, {"label": 0, "probability": {"max": 0.2}}],
        )
    )[0].expect
    assert mismatches(predictions, expectations) == ["row 1: expected label 0, probability <= 0.2, got label 0, probability 0.4"]
    with pytest.raises(MalformedResponseError, match="expected 'label,probability'"):
        parse_predictions(b"1;0.9\n", accept="text/csv", content_type=None, rows=1)


def test_p95_is_a_nearest_rank_observation() -> None:
    assert p95([]) is None
    assert p95([5.0]) == 5.0
    assert p95([float(i) for i in range(1, 21)]) == 19.0
    assert p95([float(i) for i in range(1, 101)]) == 95.0


def _split(name: str) -> tuple[np.ndarray, np.ndarray]:
    with (ROOT / "model_repo" / "data" / name).open() as handle:
        rows = list(csv.reader(handle))[1:]
    return np.array([r[1:] for r in rows], dtype=float), np.array([int(r[0]) for r in rows])


def test_the_shipped_golden_requests_are_real_held_out_rows_the_model_gets_right() -> None:
    requests = golden_requests()
    assert 10 <= len(requests) <= 20
    assert {r.content_type for r in requests} == {"text/csv", "application/json"}
    assert any(len(r.expect) > 1 for r in requests)
    assert {e.label for r in requests for e in r.expect} == {0, 1}
    data = load_breast_cancer()
    index = {tuple(np.round(row, 6)): label for row, label in zip(data.data, data.target, strict=True)}
    train_x, train_y = _split("train.csv")
    trained_on = {tuple(np.round(row, 6)) for row in train_x}
    model = Pipeline([("scale", StandardScaler()), ("classify", LogisticRegression(C=1.0, max_iter=1000, random_state=0))])
    model.fit(train_x, train_y)
    for line in GOLDEN_TEXT.splitlines():
        raw = json.loads(line)
        rows = (
            [[float(v) for v in text.split(",")] for text in raw["body"].splitlines()]
            if raw["content_type"] == "text/csv"
            else raw["body"]["instances"]
        )
        request = next(r for r in requests if r.name == raw["name"])
        for row, expected in zip(rows, request.expect, strict=True):
            key = tuple(np.round(row, 6))
            assert index[key] == expected.label, f"{request.name}: label differs from the data set"
            assert key not in trained_on, f"{request.name}: row is in the training split"
        probabilities = model.predict_proba(np.array(rows))[:, 1]
        predictions = [Prediction(int(p >= 0.5), float(p)) for p in probabilities]
        assert mismatches(predictions, request.expect) == [], request.name
