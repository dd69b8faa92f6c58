"""The rehearsal's report.md says which verdict blocked a release: an inconclusive evaluation gate is not a failure."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

import yaml

from evaluation_gate.evaluation_decision import EvaluationInputs, decide
from evaluation_gate_fixtures import CONTRACT_EVALUATION, policy
from rehearsal.cli import main
from rehearsal.pipeline_code import PROJECT_ROOT
from rehearsal.report import render_report
from rehearsal.runner import GateOutcome, RehearsalOptions, RehearsalResult
from rehearsal_fixtures import FAST


def _blocked_by(repository_policy: dict) -> str:
    record = json.loads(decide(EvaluationInputs(CONTRACT_EVALUATION, repository_policy)).to_json())
    result = RehearsalResult(
        options=RehearsalOptions(model_repo=Path("model_repo"), out_dir=Path("out")),
        run_id="r1",
        started_at="2026-11-30T00:00:00Z",
        blocked_by="Evaluation gate",
        reason=record["verdict"],
        gates=[GateOutcome(gate="Evaluation gate", passed=False, message=record["verdict"], record=record, invocations=1)],
    )
    return render_report(result)


def test_an_inconclusive_gate_is_reported_as_inconclusive() -> None:
    # improvement interval [-0.004, 0.008]: the threshold -0.0039 lies inside it.
    report = _blocked_by(policy(**{"champion.roc_auc.max_regression": 0.0039}))
    assert report.startswith("# Release rehearsal r1: ❔ BLOCKED: INCONCLUSIVE at this holdout size")
    assert "### Evaluation gate: ❔ inconclusive at this holdout size (blocked)" in report
    assert "| ❔ | `champion.roc_auc.max_regression` |" in report
    assert "Evaluation gate INCONCLUSIVE (blocked: the holdout cannot resolve a rule)" in report


def test_a_failed_gate_is_reported_as_blocked() -> None:
    report = _blocked_by(policy(**{"metrics.roc_auc.min": 0.999}))
    assert report.startswith("# Release rehearsal r1: ❌ BLOCKED")
    assert "### Evaluation gate: ❌ blocked" in report


def test_a_rehearsal_whose_holdout_cannot_resolve_a_bound_ends_inconclusive(tmp_path: Path) -> None:
    """End to end: the sample's roc_auc (about 0.991, interval about [0.977, 0.999]) against min 0.995 on the interval."""
    repository = tmp_path / "repo"
    shutil.copytree(PROJECT_ROOT / "model_repo", repository, ignore=shutil.ignore_patterns("tests", "__pycache__"))
    policy_path = repository / "release-policy.yaml"
    document = yaml.safe_load(policy_path.read_text(encoding="utf-8"))
    document["metrics"]["roc_auc"] = {"min": 0.995, "on": "interval"}
    policy_path.write_text(yaml.safe_dump(document), encoding="utf-8")
    out_dir = tmp_path / "out"
    with contextlib.redirect_stdout(io.StringIO()) as stdout, contextlib.redirect_stderr(io.StringIO()):
        code = main(["run", "--out", str(out_dir), "--model-repo", str(repository), *FAST])
    last_line = stdout.getvalue().strip().splitlines()[-1]
    assert code == 1, stdout.getvalue()
    assert last_line.startswith(
        "BLOCKED by evaluation gate: Evaluation gate INCONCLUSIVE (blocked: the holdout cannot resolve a rule)"
    )
    record = json.loads((out_dir / "evaluation-gate-decision.json").read_text(encoding="utf-8"))
    assert (record["decision"], record["passed"]) == ("inconclusive", False)
    (unresolved,) = [rule for rule in record["rules"] if rule["outcome"] != "passed" and rule["outcome"] != "skipped"]
    assert unresolved["rule_id"] == "metrics.roc_auc.min" and unresolved["outcome"] == "inconclusive"
    assert "minimum detectable difference" in unresolved["reason"]
    report = (out_dir / "report.md").read_text(encoding="utf-8")
    assert "❔ BLOCKED: INCONCLUSIVE at this holdout size" in report.splitlines()[0]
