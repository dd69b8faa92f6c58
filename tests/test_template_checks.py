"""The scanners that `make synth` and CI rely on: cfn-lint and cdk-nag (checkov: tests/test_checkov.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from cdk_nag import AwsSolutionsChecks

from tests.synthesis_fixtures import SynthesizedApp

# W3005 (an obsolete DependsOn) is reported on DependsOn entries CDK generates itself.
CFN_LINT_IGNORED = ["W3005"]
CFN_LINT = Path(sys.executable).parent / "cfn-lint"


def test_cfn_lint_reports_no_error_and_no_warning(synthesized: SynthesizedApp) -> None:
    templates = [str(path) for path in synthesized.paths.values()]
    result = subprocess.run(
        [str(CFN_LINT), "--format", "json", "--ignore-checks", *CFN_LINT_IGNORED, "--", *templates],
        capture_output=True,
        text=True,
        timeout=300,
    )
    findings = json.loads(result.stdout or "[]")
    readable = [
        f"{f['Rule']['Id']} {f['Filename'].rsplit('/', 1)[-1]} {'/'.join(map(str, f['Location']['Path']))}: {f['Message']}"
        for f in findings
    ]
    assert readable == []
    assert result.returncode == 0, result.stderr


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
