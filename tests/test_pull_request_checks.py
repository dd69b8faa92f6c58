"""Pull-request checks: the rule's event pattern and input, the build's scope, its buildspec, the report script."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
import yaml
from aws_cdk.assertions import Match, Template
from botocore.stub import Stubber

from release_tools.errors import ReleaseToolError
from release_tools.pull_request_report import PullRequest, post_result, pull_request_from_env, result_comment
from stacks.components.build_project import BUILDSPEC_DIR
from tests.synthesis_fixtures import SynthesizedApp


@pytest.fixture(scope="module")
def template(synthesized: SynthesizedApp) -> Template:
    return Template.from_json(synthesized.pipeline)


def by_type(synthesized: SynthesizedApp, kind: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in synthesized.pipeline["Resources"].items() if r["Type"] == kind}


def only(synthesized: SynthesizedApp, kind: str) -> str:
    (logical_id,) = by_type(synthesized, kind)
    return logical_id


def pr_project_id(synthesized: SynthesizedApp) -> str:
    (logical_id,) = [k for k, r in by_type(synthesized, "AWS::CodeBuild::Project").items()
                     if r["Properties"]["Source"]["Type"] == "CODECOMMIT"]
    return logical_id


def test_rule_fires_on_created_and_updated_pull_requests_into_the_release_branch(template: Template) -> None:
    template.has_resource_properties("AWS::Events::Rule", {"EventPattern": {
        "source": ["aws.codecommit"],
        "detail-type": ["CodeCommit Pull Request State Change"],
        "resources": [{"Fn::GetAtt": [Match.string_like_regexp("ModelRepository"), "Arn"]}],
        "detail": {"event": ["pullRequestCreated", "pullRequestSourceBranchUpdated"],
                   "destinationReference": ["refs/heads/main"], "pullRequestStatus": ["Open"]},
    }})


def test_rule_starts_the_build_at_the_source_commit_with_the_pull_request_identity(synthesized: SynthesizedApp) -> None:
    project = pr_project_id(synthesized)
    (target,) = [t for r in by_type(synthesized, "AWS::Events::Rule").values() for t in r["Properties"].get("Targets", [])
                 if t.get("Arn") == {"Fn::GetAtt": [project, "Arn"]}]
    transformer = target["InputTransformer"]
    paths = transformer["InputPathsMap"]
    assert paths["detail-sourceCommit"] == "$.detail.sourceCommit"
    assert {paths[k] for k in paths} >= {"$.detail.pullRequestId", "$.detail.revisionId", "$.detail.destinationCommit"}
    text = transformer["InputTemplate"]
    assert '"sourceVersion":<detail-sourceCommit>' in text
    for name in ("PULL_REQUEST_ID", "REVISION_ID", "SOURCE_COMMIT", "DESTINATION_COMMIT"):
        assert f'"name":"{name}"' in text


def test_build_reads_the_repository_and_runs_the_pull_request_buildspec(synthesized: SynthesizedApp) -> None:
    props = synthesized.pipeline["Resources"][pr_project_id(synthesized)]["Properties"]
    spec = yaml.safe_load(props["Source"]["BuildSpec"])
    assert spec == yaml.safe_load((BUILDSPEC_DIR / "pull_request.yml").read_text())
    assert props["EncryptionKey"] == {"Fn::GetAtt": [only(synthesized, "AWS::KMS::Key"), "Arn"]}
    names = {v["Name"] for v in props["Environment"]["EnvironmentVariables"]}
    assert {"REPOSITORY_NAME", "PLATFORM_TOOLS_S3_URI", "PLATFORM_SCHEMAS_S3_URI", "PLATFORM_FLOORS"} <= names


def test_build_role_may_comment_and_approve_on_this_repository_only(synthesized: SynthesizedApp) -> None:
    project = synthesized.pipeline["Resources"][pr_project_id(synthesized)]
    role = project["Properties"]["ServiceRole"]["Fn::GetAtt"][0]
    statements = [s for p in by_type(synthesized, "AWS::IAM::Policy").values()
                  if {"Ref": role} in p["Properties"]["Roles"] for s in p["Properties"]["PolicyDocument"]["Statement"]]
    actions = {a for s in statements for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])}
    codecommit = {a for a in actions if a.startswith("codecommit:")}
    assert codecommit == {"codecommit:GitPull", "codecommit:PostCommentForPullRequest",
                          "codecommit:UpdatePullRequestApprovalState"}
    (post,) = [s for s in statements if s.get("Sid") == "PostResultOnPullRequest"]
    assert post["Resource"] == {"Fn::GetAtt": [only(synthesized, "AWS::CodeCommit::Repository"), "Arn"]}
    assert not any(a.startswith(("s3:Put", "s3:Delete", "sagemaker:", "iam:")) for a in actions)


def _commands(spec: dict[str, Any], phase: str) -> list[str]:
    return spec["phases"][phase]["commands"]


def test_buildspec_runs_exactly_the_build_stage_commands_then_reports() -> None:
    ci = yaml.safe_load((BUILDSPEC_DIR / "ci.yml").read_text())
    pr = yaml.safe_load((BUILDSPEC_DIR / "pull_request.yml").read_text())
    for phase in ("install", "pre_build", "build"):
        assert _commands(pr, phase) == _commands(ci, phase), f"{phase} differs from ci.yml"
        assert pr["phases"][phase]["on-failure"] == "CONTINUE"  # post_build must always report
    assert pr["env"]["variables"] == ci["env"]["variables"]
    assert _commands(pr, "post_build") == [
        'python -m release_tools.pull_request_report --succeeded "$CODEBUILD_BUILD_SUCCEEDING"']


def test_buildspecs_hold_no_secrets() -> None:
    for path in BUILDSPEC_DIR.glob("*.yml"):
        spec = yaml.safe_load(path.read_text())
        env = spec.get("env", {})
        assert not {"secrets-manager", "parameter-store"} & set(env), path.name
        text = path.read_text().lower()
        assert "aws_secret_access_key" not in text and "akia" not in text, path.name


# -- the report script --------------------------------------------------------

ENV = {"REPOSITORY_NAME": "ml-model", "PULL_REQUEST_ID": "42", "REVISION_ID": "rev-1",
       "SOURCE_COMMIT": "a" * 40, "DESTINATION_COMMIT": "b" * 40}


def stubbed(state: str, *, content_has: str) -> tuple[Any, Stubber]:
    client = boto3.client("codecommit", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(client)

    class Contains:
        def __eq__(self, other: object) -> bool:
            return isinstance(other, str) and content_has in other

    stub.add_response("post_comment_for_pull_request", {}, {
        "pullRequestId": "42", "repositoryName": "ml-model", "beforeCommitId": "b" * 40, "afterCommitId": "a" * 40,
        "content": Contains(),
    })
    stub.add_response("update_pull_request_approval_state", {}, {
        "pullRequestId": "42", "revisionId": "rev-1", "approvalState": state,
    })
    return client, stub


@pytest.mark.parametrize(("succeeded", "state", "word"), [(True, "APPROVE", "passed"), (False, "REVOKE", "FAILED")])
def test_report_comments_then_sets_the_approval_state(succeeded: bool, state: str, word: str) -> None:
    client, stub = stubbed(state, content_has=word)
    with stub:
        assert post_result(client, pull_request_from_env(ENV), succeeded=succeeded, build_url="https://b") == state
    stub.assert_no_pending_responses()


def test_report_refuses_without_the_pull_request_identity() -> None:
    with pytest.raises(ReleaseToolError, match="REVISION_ID"):
        pull_request_from_env({k: v for k, v in ENV.items() if k != "REVISION_ID"})


def test_anything_but_1_is_a_failure() -> None:
    from release_tools.pull_request_report import _succeeded

    assert _succeeded("1") and not _succeeded("0") and not _succeeded("") and not _succeeded("true")


def test_comment_names_the_commit_and_the_build() -> None:
    text = result_comment(succeeded=False, commit="c" * 40, build_url="https://console/build")
    assert "FAILED" in text and "c" * 12 in text and "https://console/build" in text
    assert isinstance(PullRequest(**{k.lower(): v for k, v in ENV.items()}), PullRequest)
