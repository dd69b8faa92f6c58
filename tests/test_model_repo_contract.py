"""The model project's evaluate.py output against the contract's JSON Schema, with and without a champion."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from tests.release_tools_fixtures import MODEL_REPO, SCHEMAS_DIR, train_model

SCHEMA = json.loads((SCHEMAS_DIR / "evaluation.v1.schema.json").read_text())
POLICY_SCHEMA = json.loads((SCHEMAS_DIR / "release-policy.v1.schema.json").read_text())
CHAMPION_ARN = "arn:aws:sagemaker:us-east-1:111122223333:model-package/ml-cicd-models/4"


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("contract-models")
    return {"challenger": train_model(root / "challenger"), "champion": train_model(root / "champion", "--C", "0.05")}


def _evaluate(tmp_path: Path, *extra: str) -> dict:
    import evaluate

    out = tmp_path / "evaluation"
    assert evaluate.main(["--output-dir", str(out), "--resamples", "1000", *extra]) == 0
    return json.loads((out / "evaluation.json").read_text())


def test_first_release_report_matches_the_schema(tmp_path: Path, models: dict[str, Path]) -> None:
    report = _evaluate(tmp_path, "--model", str(models["challenger"]))
    jsonschema.validate(report, SCHEMA)
    assert report["champion"] is None


def test_report_with_champion_matches_the_schema(tmp_path: Path, models: dict[str, Path]) -> None:
    report = _evaluate(tmp_path, "--model", str(models["challenger"]), "--champion-model", str(models["champion"]),
                       "--champion-arn", CHAMPION_ARN)  # fmt: skip
    jsonschema.validate(report, SCHEMA)
    assert set(report["champion"]["comparison"]["deltas"]) == set(report["metrics"])


def test_the_shipped_policy_holds_for_the_shipped_model(tmp_path: Path, models: dict[str, Path]) -> None:
    """The sample project releases: its own model meets its own absolute bounds."""
    import yaml

    policy = yaml.safe_load((MODEL_REPO / "release-policy.yaml").read_text())
    jsonschema.validate(policy, POLICY_SCHEMA)
    report = _evaluate(tmp_path, "--model", str(models["challenger"]))
    for name, bounds in policy["metrics"].items():
        value = report["metrics"][name]["value"]
        assert bounds.get("min", value) <= value <= bounds.get("max", value), (name, value, bounds)


def test_a_holdout_too_small_for_an_interval_is_evaluate_pys_one_line_error() -> None:
    import evaluate
    import numpy as np
    from bootstrap import Predictions

    target = np.r_[np.ones(1, dtype=np.int64), np.zeros(19, dtype=np.int64)]  # one positive in 20 rows
    predictions = Predictions(target=target, probability=np.linspace(0.01, 0.99, 20), label=np.zeros(20, dtype=np.int64))
    with pytest.raises(
        evaluate.EvaluationError,
        match=r"^challenger roc_auc: only \d+ of 1000 bootstrap resamples had both classes; the holdout is too small",
    ):
        evaluate.build_evaluation(predictions, model_data_url="s3://m", source_revision="r", holdout_sha256="0" * 64,
                                  resamples=1000)  # fmt: skip
