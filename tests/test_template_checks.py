"""The scanners that `make synth` and CI rely on: cfn-lint and cdk-nag (checkov: tests/test_checkov.py)."""

from __future__ import annotations

import json
import subprocess

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from cdk_nag import AwsSolutionsChecks

from tests.synthesis_fixtures import SynthesizedApp
from tests.template_scans import CFN_LINT, CFN_LINT_IGNORED, TemplateScans

__all__ = ["CFN_LINT", "CFN_LINT_IGNORED"]  # tests/test_accounts.py runs cfn-lint the same way


def test_cfn_lint_reports_no_error_and_no_warning(synthesized: SynthesizedApp, template_scans: TemplateScans) -> None:
    # One cfn-lint run covers every scanned variant (tests/template_scans.py); these are the default app's findings.
    findings = template_scans.cfn_lint.findings_in(synthesized.paths.values())
    readable = [
        f"{f['Rule']['Id']} {f['Filename'].rsplit('/', 1)[-1]} {'/'.join(map(str, f['Location']['Path']))}: {f['Message']}"
        for f in findings
    ]
    assert len(synthesized.paths) == 3 and readable == []
    assert template_scans.cfn_lint.ran_cleanly, template_scans.cfn_lint.stderr


def test_cfn_lint_can_fail(tmp_path) -> None:
    """The check is real: a broken template is reported."""
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"Resources": {"Bucket": {"Type": "AWS::S3::Bucket", "Properties": {"Versioning": "yes"}}}}))
    result = subprocess.run([str(CFN_LINT), "--format", "json", "--", str(broken)], capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and json.loads(result.stdout)


def test_cdk_nag_accepts_the_whole_app(synthesized: SynthesizedApp) -> None:
    assert synthesized.nag_error is None, synthesized.nag_error


def test_cdk_nag_refuses_an_unacknowledged_wildcard() -> None:
    """The plugin is wired the way app.py wires it, and it can fail."""
    app = cdk.App(context={"@aws-cdk/core:validationReportJson": False})
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    stack = cdk.Stack(app, "Probe")
    role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    role.add_to_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=["*"]))
    s3.Bucket(stack, "Bucket", enforce_ssl=True)
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
