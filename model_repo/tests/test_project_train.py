"""train.py: script-mode arguments, SM_* environment, and a model that serves."""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import pytest

import train


def test_trains_a_strong_model_and_writes_validation_metrics(trained_model_dir: Path) -> None:
    model = joblib.load(trained_model_dir / "model.joblib")
    assert list(model.classes_) == [0, 1]
    metrics = json.loads((trained_model_dir / "output" / "validation_metrics.json").read_text())
    assert metrics["validation_roc_auc"] > 0.98
    assert metrics["validation_accuracy"] > 0.93


def test_reads_sagemaker_environment_and_channel_directories(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    channels = tmp_path / "input"
    for channel in ("train", "validation"):
        (channels / channel).mkdir(parents=True)
        source = Path(train.__file__).parent / "data" / f"{channel}.csv"
        (channels / channel / "part-0.csv").write_bytes(source.read_bytes())
    monkeypatch.setenv("SM_MODEL_DIR", str(tmp_path / "model"))
    monkeypatch.setenv("SM_OUTPUT_DATA_DIR", str(tmp_path / "output"))
    monkeypatch.setenv("SM_CHANNEL_TRAIN", str(channels / "train"))
    monkeypatch.setenv("SM_CHANNEL_VALIDATION", str(channels / "validation"))
    monkeypatch.setenv("SM_HPS", json.dumps({"C": 0.5, "max-iter": 200, "sagemaker_program": "train.py"}))

    args = train.parse_args([])
    assert (args.C, args.max_iter) == (0.5, 200)
    assert train.main([]) == 0
    model = joblib.load(tmp_path / "model" / "model.joblib")
    assert model.named_steps["classify"].C == 0.5
    assert (tmp_path / "output" / "validation_metrics.json").is_file()


def test_command_line_hyperparameters_win_over_sm_hps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SM_HPS", json.dumps({"C": 0.5}))
    assert train.parse_args(["--C", "2.0", "--max-iter", "300"]).C == 2.0


@pytest.mark.parametrize("argv", [["--C", "0"], ["--max-iter", "0"], ["--learning-rate", "1"]])
def test_refuses_bad_or_unknown_hyperparameters(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        train.parse_args(argv)
    assert exit_info.value.code == 2


def test_missing_channel_fails_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = train.main(["--train", str(tmp_path / "nope"), "--model-dir", str(tmp_path / "m")])
    assert code == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no such file or directory" in err
