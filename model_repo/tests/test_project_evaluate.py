"""evaluate.py: contract v1 shape, the paired bootstrap, and fail-closed checks."""

from __future__ import annotations

import json
import shutil
import tarfile
import time
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, log_loss, roc_auc_score

import evaluate
from bootstrap import METRICS, Predictions, resample_weights

DATA_DIR = Path(evaluate.__file__).parent / "data"
CHAMPION_ARN = "arn:aws:sagemaker:eu-west-1:111122223333:model-package/example/3"


def _run(tmp_path: Path, *extra: str) -> dict:
    out = tmp_path / "evaluation"
    args = ["--output-dir", str(out), "--source-revision", "3f2c9e1", *extra]
    assert evaluate.main(args) == 0
    return json.loads((out / "evaluation.json").read_text())


def test_without_champion(tmp_path: Path, trained_model_dir: Path) -> None:
    report = _run(tmp_path, "--model", str(trained_model_dir), "--model-data-url", "s3://b/model.tar.gz")
    assert report["schema_version"] == 1 and report["problem_type"] == "binary_classification"
    assert report["model"] == {"model_data_url": "s3://b/model.tar.gz", "source_revision": "3f2c9e1"}
    manifest = json.loads((DATA_DIR / "manifest.json").read_text())
    assert report["dataset"] == {"name": "holdout", "rows": 171, "sha256": manifest["files"]["holdout.csv"]["sha256"]}
    assert report["champion"] is None
    assert set(report["metrics"]) == {"roc_auc", "log_loss", "accuracy", "f1"}
    assert report["metrics"]["log_loss"]["higher_is_better"] is False
    for entry in report["metrics"].values():
        assert entry["ci_low"] <= entry["value"] <= entry["ci_high"]


def test_with_champion_from_a_tarball(tmp_path: Path, trained_model_dir: Path, weak_model_dir: Path) -> None:
    champion_tar = tmp_path / "champion" / "model.tar.gz"
    champion_tar.parent.mkdir()
    with tarfile.open(champion_tar, "w:gz") as archive:
        archive.add(weak_model_dir / "model.joblib", arcname="model.joblib")
    report = _run(
        tmp_path, "--model", str(trained_model_dir), "--champion-model", str(champion_tar.parent),
        "--champion-arn", CHAMPION_ARN, "--resamples", "1000", "--confidence", "0.9",
    )  # fmt: skip
    champion = report["champion"]
    assert champion["model_package_arn"] == CHAMPION_ARN
    assert champion["comparison"]["method"] == "paired_bootstrap"
    assert (champion["comparison"]["resamples"], champion["comparison"]["confidence"]) == (1000, 0.9)
    for name, delta in champion["comparison"]["deltas"].items():
        raw = report["metrics"][name]["value"] - champion["metrics"][name]["value"]
        assert delta["value"] == pytest.approx(raw, abs=2e-6)
        assert delta["ci_low"] <= delta["value"] <= delta["ci_high"]
    # The strongly regularised champion is clearly worse on log loss: the whole interval says so.
    assert champion["comparison"]["deltas"]["log_loss"]["ci_high"] < 0


def test_identical_models_have_zero_width_paired_deltas(tmp_path: Path, trained_model_dir: Path) -> None:
    report = _run(
        tmp_path,
        "--model",
        str(trained_model_dir),
        "--champion-model",
        str(trained_model_dir),
        "--champion-arn",
        CHAMPION_ARN,
    )
    for delta in report["champion"]["comparison"]["deltas"].values():
        assert delta == {"value": 0.0, "ci_low": 0.0, "ci_high": 0.0}


def test_point_values_match_scikit_learn(trained_model_dir: Path) -> None:
    from dataset import load_labelled_csv

    features, target = load_labelled_csv(DATA_DIR / "holdout.csv")
    model = evaluate.load_model(trained_model_dir)
    pred = evaluate.predict(model, features, target)
    ones = np.ones((1, pred.rows))
    assert METRICS["roc_auc"].compute(ones, pred)[0] == pytest.approx(roc_auc_score(target, pred.probability))
    assert METRICS["log_loss"].compute(ones, pred)[0] == pytest.approx(log_loss(target, pred.probability))
    assert METRICS["accuracy"].compute(ones, pred)[0] == pytest.approx(accuracy_score(target, pred.label))
    assert METRICS["f1"].compute(ones, pred)[0] == pytest.approx(f1_score(target, pred.label))


def test_weighted_auc_equals_auc_of_the_resampled_rows_with_ties() -> None:
    rng = np.random.default_rng(3)
    target = rng.integers(0, 2, 60)
    probability = np.round(rng.random(60), 1)  # many ties
    pred = Predictions(target=target, probability=probability, label=(probability >= 0.5).astype(int))
    weights = next(resample_weights(60, 5, seed=9))
    for row in range(5):
        indices = np.repeat(np.arange(60), weights[row].astype(int))
        expected = roc_auc_score(target[indices], probability[indices])
        assert METRICS["roc_auc"].compute(weights[row : row + 1], pred)[0] == pytest.approx(expected)


def test_same_seed_same_report_and_2000_paired_resamples_are_fast(tmp_path: Path, trained_model_dir: Path) -> None:
    started = time.perf_counter()
    first = _run(tmp_path / "a", "--model", str(trained_model_dir), "--champion-model", str(trained_model_dir),
                 "--champion-arn", CHAMPION_ARN)  # fmt: skip
    assert time.perf_counter() - started < 2.0
    second = _run(tmp_path / "b", "--model", str(trained_model_dir), "--champion-model", str(trained_model_dir),
                  "--champion-arn", CHAMPION_ARN)  # fmt: skip
    assert first == second


def test_altered_holdout_is_refused(
    tmp_path: Path, trained_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copy(DATA_DIR / "manifest.json", tmp_path / "manifest.json")
    lines = (DATA_DIR / "holdout.csv").read_text().splitlines(keepends=True)
    (tmp_path / "holdout.csv").write_text("".join(lines[:-1]))
    code = evaluate.main(["--model", str(trained_model_dir), "--holdout", str(tmp_path), "--output-dir", str(tmp_path)])
    assert code == 1
    err = capsys.readouterr().err
    assert "does not match manifest.json" in err and err.count("\n") == 1
    assert not (tmp_path / "evaluation.json").exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--resamples", "999"], "--resamples must be >= 1000"),
        (["--champion-arn", CHAMPION_ARN], "needs both its model and its model package ARN"),
        (["--confidence", "1.0"], "--confidence"),
    ],
)
def test_bad_settings_fail_with_one_line(
    tmp_path: Path, trained_model_dir: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    assert evaluate.main(["--model", str(trained_model_dir), "--output-dir", str(tmp_path), *extra]) == 1
    assert message in capsys.readouterr().err


def test_missing_model_fails_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert evaluate.main(["--model", str(tmp_path / "none"), "--output-dir", str(tmp_path)]) == 1
    assert "no model.joblib or model.tar.gz" in capsys.readouterr().err
