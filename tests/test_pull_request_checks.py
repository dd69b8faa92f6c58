"""Pull-request checks: the rules, the build's scope, its buildspec, and the reporter function."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
import yaml
from aws_cdk.assertions import Match, Template
from botocore.stub import Stubber

from pull_request_reporter.handler import handler
from pull_request_reporter.pull_request_verdict import MAX_COMMENT_CHARS, verdict_from_event
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
    (logical_id,) = [
        k for k, r in by_type(synthesized, "AWS::CodeBuild::Project").items() if r["Properties"]["Source"]["Type"] == "CODECOMMIT"
    ]
    return logical_id


def test_rule_fires_on_created_and_updated_pull_requests_into_the_release_branch(template: Template) -> None:
    template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": {
                "source": ["aws.codecommit"],
                "detail-type": ["CodeCommit Pull Request State Change"],
                "resources": [{"Fn::GetAtt": [Match.string_like_regexp("ModelRepository"), "Arn"]}],
                "detail": {
                    "event": ["pullRequestCreated", "pullRequestSourceBranchUpdated"],
                    "destinationReference": ["refs/heads/main"],
                    "pullRequestStatus": ["Open"],
                },
            }
        },
    )


def test_rule_starts_the_build_at_the_source_commit_with_the_pull_request_identity(synthesized: SynthesizedApp) -> None:
    project = pr_project_id(synthesized)
    (target,) = [
        t
        for r in by_type(synthesized, "AWS::Events::Rule").values()
        for t in r["Properties"].get("Targets", [])
        if t.get("Arn") == {"Fn::GetAtt": [project, "Arn"]}
    ]
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


def _statements(synthesized: SynthesizedApp, role: str) -> list[dict[str, Any]]:
    return [
        s
        for p in by_type(synthesized, "AWS::IAM::Policy").values()
        if {"Ref": role} in p["Properties"]["Roles"]
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]


def _actions(statements: list[dict[str, Any]]) -> set[str]:
    return {a for s in statements for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])}


def reporter_id(synthesized: SynthesizedApp) -> str:
    (logical_id,) = [
        k
        for k, r in by_type(synthesized, "AWS::Lambda::Function").items()
        if r["Properties"].get("Handler") == "pull_request_reporter.handler.handler"
    ]
    return logical_id


def test_build_role_can_read_the_code_but_never_comment_or_approve(synthesized: SynthesizedApp) -> None:
    """The build runs the pull request's own code: it must not be able to approve anything."""
    project = synthesized.pipeline["Resources"][pr_project_id(synthesized)]
    actions = _actions(_statements(synthesized, project["Properties"]["ServiceRole"]["Fn::GetAtt"][0]))
    assert {a for a in actions if a.startswith("codecommit:")} == {"codecommit:GitPull"}
    assert not any(a.startswith(("s3:Put", "s3:Delete", "sagemaker:", "iam:")) for a in actions)


def test_only_the_reporter_may_comment_and_approve_on_this_repository(synthesized: SynthesizedApp) -> None:
    function = synthesized.pipeline["Resources"][reporter_id(synthesized)]
    statements = _statements(synthesized, function["Properties"]["Role"]["Fn::GetAtt"][0])
    (post,) = [s for s in statements if s.get("Sid") == "PostResultOnPullRequest"]
    assert sorted(post["Action"]) == ["codecommit:PostCommentForPullRequest", "codecommit:UpdatePullRequestApprovalState"]
    assert post["Resource"] == {"Fn::GetAtt": [only(synthesized, "AWS::CodeCommit::Repository"), "Arn"]}
    assert not any(a.startswith(("s3:", "sagemaker:", "iam:")) for a in _actions(statements))
    (provenance,) = [s for s in statements if s.get("Sid") == "ConfirmBuildProvenance"]
    assert provenance["Action"] == "codebuild:BatchGetBuilds"
    assert provenance["Resource"] == {"Fn::GetAtt": [pr_project_id(synthesized), "Arn"]}
    assert {a for a in _actions(statements) if a.startswith("codebuild:")} == {"codebuild:BatchGetBuilds"}
    (revision,) = [s for s in statements if s.get("Sid") == "ReadPullRequestRevision"]
    assert revision["Action"] == "codecommit:GetPullRequest"


def test_the_reporter_knows_which_rule_starts_the_checks(synthesized: SynthesizedApp) -> None:
    """CHECKS_RULE_NAME is the name of the rule whose target is the checks project (the trusted initiator)."""
    variables = synthesized.pipeline["Resources"][reporter_id(synthesized)]["Properties"]["Environment"]["Variables"]
    (rule,) = [
        k
        for k, r in by_type(synthesized, "AWS::Events::Rule").items()
        if any(t.get("Arn") == {"Fn::GetAtt": [pr_project_id(synthesized), "Arn"]} for t in r["Properties"].get("Targets", []))
    ]
    assert variables["CHECKS_RULE_NAME"] == {"Ref": rule}


def test_a_finished_build_invokes_the_reporter(template: Template, synthesized: SynthesizedApp) -> None:
    template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": {
                "source": ["aws.codebuild"],
                "detail-type": ["CodeBuild Build State Change"],
                "detail": {
                    "project-name": [{"Ref": pr_project_id(synthesized)}],
                    "build-status": ["SUCCEEDED", "FAILED", "FAULT", "STOPPED", "TIMED_OUT"],
                },
            },
            "Targets": [
                Match.object_like(
                    {"Arn": {"Fn::GetAtt": [reporter_id(synthesized), "Arn"]}, "RetryPolicy": {"MaximumRetryAttempts": 0}}
                )
            ],
        },
    )


def _commands(spec: dict[str, Any], phase: str) -> list[str]:
    return spec["phases"][phase]["commands"]


def test_buildspec_runs_exactly_the_build_stage_commands_and_posts_nothing() -> None:
    ci = yaml.safe_load((BUILDSPEC_DIR / "ci.yml").read_text())
    pr = yaml.safe_load((BUILDSPEC_DIR / "pull_request.yml").read_text())
    assert set(pr["phases"]) == {"install", "pre_build", "build"}
    for phase in ("install", "pre_build", "build"):
        assert _commands(pr, phase) == _commands(ci, phase), f"{phase} differs from ci.yml"
        assert "on-failure" not in pr["phases"][phase]  # a failed check fails the build: its state is the verdict
    assert pr["env"]["variables"] == ci["env"]["variables"]


def test_buildspecs_hold_no_secrets() -> None:
    for path in BUILDSPEC_DIR.glob("*.yml"):
        spec = yaml.safe_load(path.read_text())
        env = spec.get("env", {})
        assert not {"secrets-manager", "parameter-store"} & set(env), path.name
        text = path.read_text().lower()
        assert "aws_secret_access_key" not in text and "akia" not in text, path.name


# -- the reporter function -----------------------------------------------------

PROJECT = "PullRequestChecksBuildProject-abc"
RULE = "ml-cicd-pipeline-PullRequestChecksRule"
ENVIRON = {"REPOSITORY_NAME": "ml-model", "CHECKS_PROJECT_NAME": PROJECT, "CHECKS_RULE_NAME": RULE}
IDENTITY = {"PULL_REQUEST_ID": "42", "REVISION_ID": "rev-1", "SOURCE_COMMIT": "a" * 40, "DESTINATION_COMMIT": "b" * 40}


def build_event(
    status: str = "SUCCEEDED",
    *,
    project: str = PROJECT,
    variables: dict[str, str] | None = None,
    failed_phase: str | None = None,
    initiator: str = f"rule/{RULE}",
) -> dict[str, Any]:
    """`CodeBuild Build State Change`, shaped as the CodeBuild user guide's sample event."""
    phases = [{"phase-type": "SUBMITTED", "phase-status": "SUCCEEDED"}, {"phase-type": "INSTALL", "phase-status": "SUCCEEDED"}]
    if failed_phase:
        phases.append({"phase-type": failed_phase, "phase-status": "FAILED"})
    env_vars = [{"name": n, "value": v, "type": "PLAINTEXT"} for n, v in {**IDENTITY, **(variables or {})}.items()]
    env_vars.append({"name": "PLATFORM_FLOORS", "value": "{}", "type": "PLAINTEXT"})
    return {
        "version": "0",
        "id": "bfdc1220-60ff-44ec-b0d4-9e5d3e8d1d1e",
        "detail-type": "CodeBuild Build State Change",
        "source": "aws.codebuild",
        "account": "123456789012",
        "time": "2026-11-28T20:00:00Z",
        "region": "eu-west-1",
        "resources": [f"arn:aws:codebuild:eu-west-1:123456789012:build/{project}:1"],
        "detail": {
            "build-status": status,
            "project-name": project,
            "build-id": f"arn:aws:codebuild:eu-west-1:123456789012:build/{project}:1",
            "additional-information": {
                "build-complete": True,
                "initiator": initiator,
                "source-version": "a" * 40,
                "environment": {
                    "image": "aws/codebuild/standard:7.0",
                    "privileged-mode": False,
                    "compute-type": "BUILD_GENERAL1_SMALL",
                    "type": "LINUX_CONTAINER",
                    "environment-variables": env_vars,
                },
                "logs": {
                    "group-name": "/aws/codebuild/x",
                    "stream-name": "1",
                    "deep-link": "https://console.aws.amazon.com/cloudwatch/home?region=eu-west-1#logEvent:group=x",
                },
                "phases": phases,
            },
            "current-phase": "COMPLETED",
            "current-phase-context": "[]",
            "version": "1",
        },
    }


def build_record(*, initiator: str = f"rule/{RULE}", commit: str = "a" * 40) -> dict[str, Any]:
    """The BatchGetBuilds record of the event's build."""
    return {
        "id": f"{PROJECT}:1",
        "projectName": PROJECT,
        "initiator": initiator,
        "sourceVersion": commit,
        "resolvedSourceVersion": commit,
    }


def pull_request(*, status: str = "OPEN", revision: str = "rev-1", commit: str = "a" * 40) -> dict[str, Any]:
    """The GetPullRequest record: the pull request's current revision and source commit."""
    return {
        "pullRequestId": "42",
        "pullRequestStatus": status,
        "revisionId": revision,
        "pullRequestTargets": [
            {
                "repositoryName": "ml-model",
                "sourceReference": "refs/heads/feature",
                "destinationReference": "refs/heads/main",
                "sourceCommit": commit,
                "destinationCommit": "b" * 40,
            }
        ],
    }


def provenance_stubs(
    *, build: dict[str, Any] | None = None, pr: dict[str, Any] | None = None
) -> tuple[Any, Stubber, Any, Stubber]:
    """A CodeBuild client answering BatchGetBuilds and a CodeCommit client answering GetPullRequest."""
    keys = {"region_name": "eu-west-1", "aws_access_key_id": "x", "aws_secret_access_key": "x"}
    codebuild = boto3.client("codebuild", **keys)
    build_stub = Stubber(codebuild)
    build_stub.add_response("batch_get_builds", {"builds": [build or build_record()]}, {"ids": [f"{PROJECT}:1"]})
    codecommit = boto3.client("codecommit", **keys)
    stub = Stubber(codecommit)
    stub.add_response("get_pull_request", {"pullRequest": pr or pull_request()}, {"pullRequestId": "42"})
    return codecommit, stub, codebuild, build_stub


def stubbed(state: str, *, content_has: str) -> tuple[Any, Stubber, Any, Stubber]:
    client, stub, codebuild, build_stub = provenance_stubs()

    class Contains:
        def __eq__(self, other: object) -> bool:
            return isinstance(other, str) and content_has in other

    stub.add_response(
        "post_comment_for_pull_request",
        {},
        {
            "pullRequestId": "42",
            "repositoryName": "ml-model",
            "beforeCommitId": "b" * 40,
            "afterCommitId": "a" * 40,
            "content": Contains(),
        },
    )
    stub.add_response(
        "update_pull_request_approval_state",
        {},
        {
            "pullRequestId": "42",
            "revisionId": "rev-1",
            "approvalState": state,
        },
    )
    return client, stub, codebuild, build_stub


@pytest.mark.parametrize(
    ("status", "state", "word"),
    [
        ("SUCCEEDED", "APPROVE", "passed"),
        ("FAILED", "REVOKE", "in phase BUILD"),
        ("STOPPED", "REVOKE", "STOPPED"),
        ("TIMED_OUT", "REVOKE", "TIMED_OUT"),
    ],
)
def test_reporter_comments_then_sets_the_approval_state(status: str, state: str, word: str) -> None:
    client, stub, codebuild, build_stub = stubbed(state, content_has=word)
    event = build_event(status, failed_phase=None if status == "SUCCEEDED" else "BUILD")
    with stub, build_stub:
        assert handler(event, None, codecommit=client, codebuild=codebuild, environ=ENVIRON) == {
            "pull_request_id": "42",
            "approval_state": state,
        }
    stub.assert_no_pending_responses()
    build_stub.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (build_event(variables={"REVISION_ID": ""}), "REVISION_ID is missing"),
        (build_event(project="SomeoneElsesProject"), "not of"),
        (build_event("IN_PROGRESS"), "not a final state"),
        ({"detail": None}, "detail is missing"),
    ],
)
def test_reporter_refuses_an_event_it_cannot_attribute(event: dict[str, Any], message: str) -> None:
    client, stub, codebuild, build_stub = stubbed("APPROVE", content_has="")
    with stub, build_stub:
        answer = handler(event, None, codecommit=client, codebuild=codebuild, environ=ENVIRON)
    assert message in answer["error"]
    assert len(stub._queue) == 3  # nothing was read or posted  # noqa: SLF001


@pytest.mark.parametrize(
    ("event", "build", "pr", "reason"),
    [
        (build_event(initiator="alice"), build_record(initiator="alice"), None, "initiator 'alice' (event)"),
        (build_event(initiator="DataScientist/alice"), build_record(), None, "initiator 'DataScientist/alice' (event)"),
        (build_event(), build_record(initiator="alice"), None, "initiator 'alice' (BatchGetBuilds)"),
        (build_event(), build_record(commit="c" * 40), None, "the build checked"),
        (build_event(), None, pull_request(revision="rev-2", commit="d" * 40), "revision 'rev-2'"),
        (build_event(), None, pull_request(commit="d" * 40), "source commit is"),
        (build_event(), None, pull_request(status="CLOSED"), "'CLOSED', not OPEN"),
    ],
)
def test_reporter_refuses_a_build_it_did_not_start_or_an_outdated_commit(
    event: dict[str, Any], build: dict[str, Any] | None, pr: dict[str, Any] | None, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A person's StartBuild (any overrides) or a stale revision never comments or approves: one logged line."""
    client, stub, codebuild, build_stub = provenance_stubs(build=build, pr=pr)
    with stub, build_stub, caplog.at_level("WARNING"):
        answer = handler(event, None, codecommit=client, codebuild=codebuild, environ=ENVIRON)
    assert reason in answer["refused"] and "approval_state" not in answer
    stub.assert_no_pending_responses()  # GetPullRequest only: no comment, no approval state
    (line,) = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert "\n" not in line and reason in line


def test_reporter_needs_its_configuration() -> None:
    with pytest.raises(RuntimeError, match="CHECKS_RULE_NAME"):
        handler(build_event(), None, codecommit=object(), environ={})


def test_comment_names_the_commit_the_failed_phase_and_the_log() -> None:
    verdict = verdict_from_event(build_event("FAILED", failed_phase="PRE_BUILD"), project_name=PROJECT)
    text = verdict.comment()
    assert "FAILED** in phase PRE_BUILD" in text and "a" * 12 in text and "console.aws.amazon.com" in text
    assert verdict.approval_state == "REVOKE" and not verdict.passed


MALFORMED_EVENTS = {
    "none": None,
    "a-list": [1, 2],
    "detail-a-string": {"detail": "x"},
    "phases-not-a-list": {
        **build_event("FAILED"),
        "detail": {
            **build_event("FAILED")["detail"],
            "additional-information": {**build_event("FAILED")["detail"]["additional-information"], "phases": 7},
        },
    },
    "variables-with-unhashable-names": {
        **build_event(),
        "detail": {
            **build_event()["detail"],
            "additional-information": {
                **build_event()["detail"]["additional-information"],
                "environment": {"environment-variables": [{"name": ["x"], "value": "1", "type": "PLAINTEXT"}]},
            },
        },
    },
}


@pytest.mark.parametrize("event", MALFORMED_EVENTS.values(), ids=MALFORMED_EVENTS.keys())
def test_a_malformed_event_is_a_logged_line_not_a_raise(event: Any, caplog: pytest.LogCaptureFixture) -> None:
    client, stub, codebuild, build_stub = stubbed("REVOKE", content_has="")
    with stub, build_stub:
        answer = handler(event, None, codecommit=client, codebuild=codebuild, environ=ENVIRON)
    if "error" in answer:
        errors = [r for r in caplog.records if r.levelname == "ERROR" and r.name == "pull_request_reporter"]
        assert len(errors) == 1 and "\n" not in errors[0].getMessage()
        assert len(stub._queue) == 3  # nothing was read or posted  # noqa: SLF001
    else:  # a malformed part that is not needed (phases) only loses the failed phase
        assert answer["approval_state"] == "REVOKE"


def test_the_comment_fits_codecommits_limit_whatever_the_event_holds() -> None:
    event = build_event("FAILED", failed_phase="P" * 50_000)
    event["detail"]["additional-information"]["logs"]["deep-link"] = "https://console.aws.amazon.com/" + "x" * 50_000
    text = verdict_from_event(event, project_name=PROJECT).comment()
    assert len(text) <= MAX_COMMENT_CHARS == 10_240
    assert text.startswith("**Pull-request checks FAILED** in phase PPP")
