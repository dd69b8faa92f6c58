"""validate_policy: a good policy becomes JSON; a broken one is one line naming file, line and key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from release_tools import validate_policy

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "schemas" / "release-policy.v1.schema.json"

GOOD = """\
version: 1
metrics:
  roc_auc:  {min: 0.95}
  log_loss: {max: 0.25}
champion:
  roc_auc:  {max_regression: 0.005}
staging:
  max_p95_latency_ms: 200
  max_error_rate: 0.0
"""


def _run(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, Path]:
    policy = tmp_path / "release-policy.yaml"
    policy.write_text(text)
    out = tmp_path / "release-policy.json"
    code = validate_policy.run_cli(
        "validate_policy", lambda: validate_policy.main([str(policy), "--schema", str(SCHEMA), "--out", str(out)])
    )
    return code, capsys.readouterr().err, out


def test_the_model_repository_policy_is_valid(tmp_path: Path) -> None:
    out = tmp_path / "policy.json"
    assert (
        validate_policy.main([str(ROOT / "model_repo" / "release-policy.yaml"), "--schema", str(SCHEMA), "--out", str(out)]) == 0
    )
    policy = json.loads(out.read_text())
    assert policy["version"] == 1 and policy["metrics"]["roc_auc"] == {"min": 0.97}


def test_good_policy_is_written_as_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err, out = _run(tmp_path, GOOD, capsys)
    assert (code, err) == (0, "")
    assert json.loads(out.read_text())["champion"] == {"roc_auc": {"max_regression": 0.005}}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (GOOD.replace("{min: 0.95}", "{min: high}"), ":3: metrics.roc_auc.min: 'high' is not of type 'number'"),
        (GOOD.replace("version: 1", "version: 2"), ":1: version: 1 was expected"),
        (GOOD.replace("{max_regression: 0.005}", "{max_regression: -0.1}"), ":6: champion.roc_auc.max_regression: -0.1"),
        (GOOD.replace("  max_error_rate: 0.0", "  max_error_rate: 1.5"), ":9: staging.max_error_rate: 1.5"),
        (GOOD.replace("{max: 0.25}", "{maximum: 0.25}"), ":4: metrics.log_loss: Additional properties"),
        (GOOD.replace("{min: 0.95}", "{min: .nan}"), ":3: metrics.roc_auc.min: nan is not a finite number"),
        (GOOD.replace("{min: 0.95}", "{min: .inf}"), ":3: metrics.roc_auc.min"),
        (GOOD.replace("{min: 0.95}", "{min: 0.95, max: 0.9}"), ":3: metrics.roc_auc: min 0.95 is above max 0.9"),
        (GOOD + "metrics:\n  f1: {min: 0.9}\n", ":10: metrics: duplicate key"),
        (GOOD.replace("  log_loss: {max: 0.25}", "  log_loss: {max: 0.25"), ":5: YAML syntax error"),
        ("", ": empty file"),
        ("- 1\n- 2\n", ":1: (top level): [1, 2] is not of type 'object'"),
    ],
)
def test_broken_policy_is_one_line_with_file_line_and_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, expected: str
) -> None:
    code, err, out = _run(tmp_path, text, capsys)
    assert code == 1
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"release-policy.yaml{expected}" in err, err
    assert not out.exists()


def test_missing_policy_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = validate_policy.run_cli(
        "validate_policy", lambda: validate_policy.main([str(tmp_path / "nope.yaml"), "--schema", str(SCHEMA)])
    )
    err = capsys.readouterr().err
    assert code == 1 and "nope.yaml: cannot read" in err and err.count("\n") == 1


def test_unusable_schema_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "p.yaml").write_text(GOOD)
    (tmp_path / "s.json").write_text("{")
    code = validate_policy.run_cli(
        "validate_policy",
        lambda: validate_policy.main([str(tmp_path / "p.yaml"), "--schema", str(tmp_path / "s.json")]),
    )
    assert code == 1 and "unusable JSON Schema" in capsys.readouterr().err
