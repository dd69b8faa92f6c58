"""The one-run-per-scanner plumbing judges each variant by its own templates, and can fail."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scripts.run_checkov import parse_checkov_report
from tests.parallel_run import pytest_xdist_auto_num_workers
from tests.template_scans import CfnLintReport


def _check(file: Path, resource: str, check_id: str, comment: str = "") -> dict:
    return {
        "check_id": check_id,
        "check_name": f"{check_id} holds",
        "resource": resource,
        "file_path": f"/..{file}",
        "file_abs_path": str(file),
        "check_result": {"suppress_comment": comment},
    }


def test_a_checkov_report_over_many_templates_is_judged_per_template(tmp_path: Path) -> None:
    mine, other = tmp_path / "mine.template.json", tmp_path / "other.template.json"
    report = {
        "check_type": "cloudformation",
        "summary": {"passed": 3, "failed": 1, "skipped": 1, "parsing_errors": 0, "resource_count": 9},
        "results": {
            "passed_checks": [_check(mine, "AWS::S3::Bucket.A", "CKV_1"), _check(mine, "AWS::S3::Bucket.B", "CKV_1")]
            + [_check(other, "AWS::S3::Bucket.C", "CKV_1")],
            "failed_checks": [_check(other, "AWS::S3::Bucket.C", "CKV_2")],
            "skipped_checks": [_check(mine, "AWS::S3::Bucket.A", "CKV_3", "a reason")],
        },
    }
    whole = parse_checkov_report(json.dumps(report), 1.0)
    assert (whole.passed, len(whole.failed), len(whole.skipped), whole.resources) == (3, 1, 1, 9)
    own = parse_checkov_report(json.dumps(report), 1.0, files=[mine])
    assert (own.passed, own.failed, own.resources) == (2, (), 2)
    assert [(f.check_id, f.comment) for f in own.skipped] == [("CKV_3", "a reason")]
    theirs = parse_checkov_report(json.dumps(report), 1.0, files=[other])
    assert [f.line() for f in theirs.failed] == ["CKV_2 AWS::S3::Bucket.C (other.template.json): CKV_2 holds"]


def test_a_template_checkov_could_not_parse_fails_every_variant(tmp_path: Path) -> None:
    report = {"check_type": "cloudformation", "summary": {"parsing_errors": 1}, "results": {}}
    with pytest.raises(RuntimeError, match="could not parse 1 template"):
        parse_checkov_report(json.dumps(report), 1.0, files=[tmp_path / "mine.template.json"])


def test_cfn_lint_findings_are_judged_per_template_and_a_crash_is_never_clean(tmp_path: Path) -> None:
    mine, other = tmp_path / "mine.template.json", tmp_path / "other.template.json"
    finding = {"Filename": str(other), "Rule": {"Id": "E3002"}, "Message": "bad", "Location": {"Path": []}}
    report = CfnLintReport(findings=(finding,), returncode=2, stderr="")
    assert report.findings_in([mine]) == [] and report.findings_in([other]) == [finding]
    assert report.ran_cleanly  # exit code 2 is the error it reported
    assert not CfnLintReport(findings=(), returncode=2, stderr="").ran_cleanly  # an error without a finding
    assert not CfnLintReport(findings=(), returncode=1, stderr="Traceback").ran_cleanly  # cfn-lint itself failed
    assert CfnLintReport(findings=(), returncode=0, stderr="").ran_cleanly


def test_the_whole_suite_runs_on_workers_and_named_files_in_one_process(
    pytestconfig: pytest.Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PYTEST_XDIST_AUTO_NUM_WORKERS", raising=False)
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1}, raising=False)
    monkeypatch.setattr(pytestconfig, "args", ["tests", "model_repo/tests"])
    assert pytest_xdist_auto_num_workers(pytestconfig) == 2
    monkeypatch.setattr(pytestconfig, "args", ["tests/test_template_scans.py::test_a_template_checkov_could_not_parse"])
    assert pytest_xdist_auto_num_workers(pytestconfig) == 0
    monkeypatch.setattr(pytestconfig, "args", ["tests"])
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0}, raising=False)
    assert pytest_xdist_auto_num_workers(pytestconfig) == 0  # one core: workers would only add their start
    monkeypatch.setenv("PYTEST_XDIST_AUTO_NUM_WORKERS", "3")
    assert pytest_xdist_auto_num_workers(pytestconfig) == 3
