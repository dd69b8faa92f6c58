"""release_tools.rollback against moto CloudFormation and SageMaker, after a real promotion."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber
from moto import mock_aws

from function_kit_fixtures import REGION, aws_credentials  # noqa: F401
from promote import champion_promotion
from promote.handler import PromoteServices, run_promote
from rehearsal.codepipeline_double import job_event, record_codepipeline_answers
from release_tools import rollback
from release_tools.errors import ReleaseToolError
from staging_fixtures import create_endpoint, register_package, shared_client, space_creation_times, upload_train_output

STACK = "ml-cicd-production-endpoint"  # the production stack and its endpoint share the name
NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


class FakeCloudFormation:
    """A botocore-stubbed CloudFormation client holding one endpoint stack (moto's CloudFormation
    needs extra packages we do not install). Each expected call is checked by the Stubber."""

    def __init__(self, serving: str) -> None:
        self.client = shared_client("cloudformation")
        self.stubber = Stubber(self.client)
        self.serving = serving

    def _stack(self, status: str = "UPDATE_COMPLETE") -> dict[str, Any]:
        parameters = [
            {"ParameterKey": "ModelPackageArn", "ParameterValue": self.serving},
            {"ParameterKey": "Project", "ParameterValue": "ml-cicd"},
        ]
        return {
            "Stacks": [
                {
                    "StackName": STACK,
                    "CreationTime": NOW,
                    "StackStatus": status,
                    "Parameters": parameters,
                    "Capabilities": [],
                }
            ]
        }

    def expect_describe(self, status: str = "UPDATE_COMPLETE") -> None:
        self.stubber.add_response("describe_stacks", self._stack(status), {"StackName": STACK})

    def expect_update_to(self, arn: str) -> None:
        expected = {
            "StackName": STACK,
            "UsePreviousTemplate": True,
            "Parameters": [
                {"ParameterKey": "ModelPackageArn", "ParameterValue": arn},
                {"ParameterKey": "Project", "UsePreviousValue": True},
            ],
            "Capabilities": [],
        }
        self.stubber.add_response("update_stack", {"StackId": f"arn:aws:cloudformation:{REGION}:1:stack/{STACK}/1"}, expected)
        self.serving = arn
        self.stubber.add_response("describe_stacks", self._stack(), {"StackName": STACK})


_S3: list[Any] = []
"""Clients shared by the promotions a test runs (building clients dominates the run time)."""


@pytest.fixture
def sagemaker(aws_credentials: None) -> Iterator[Any]:  # noqa: F811
    with mock_aws():
        _S3[:] = [shared_client("s3"), shared_client("codepipeline")]
        yield shared_client("sagemaker")


def _promote(sagemaker: Any, arn: str, suffix: str) -> None:
    """What the pipeline does for a release: production serves it, then the Promote action."""
    create_endpoint(sagemaker, STACK, arn, suffix=suffix)
    upload_train_output(arn)
    with record_codepipeline_answers() as answers:
        run_promote(
            job_event(user_parameters=json.dumps({"action": "promote", "endpoint_name": STACK})),
            services=PromoteServices(
                now=lambda: NOW,
                sagemaker=lambda: sagemaker,
                records_s3=lambda: _S3[0],
                artifact_s3=lambda _credentials: _S3[0],
                codepipeline=_S3[1],
            ),
            environ={},
        )
    assert answers.succeeded, answers.calls


@pytest.fixture
def two_releases(sagemaker: Any) -> tuple[str, str]:
    first, second = register_package(sagemaker), register_package(sagemaker)
    space_creation_times(first, second)
    _promote(sagemaker, first, "1")
    _promote(sagemaker, second, "2")
    return first, second


def _run(cloudformation: FakeCloudFormation, sagemaker: Any, *, dry_run: bool = False) -> list[str]:
    said: list[str] = []
    with cloudformation.stubber:
        rollback.run_rollback(
            cloudformation.client,
            sagemaker,
            stack_name=STACK,
            dry_run=dry_run,
            reason="p99 latency regression",
            now=NOW,
            say=said.append,
            waiter_config={"Delay": 1, "MaxAttempts": 1},
        )
        cloudformation.stubber.assert_no_pending_responses()
    return said


def test_rollback_redeploys_the_previous_champion_and_rejects_the_current(sagemaker: Any, two_releases: tuple[str, str]) -> None:
    first, second = two_releases
    cloudformation = FakeCloudFormation(serving=second)
    cloudformation.expect_describe()
    cloudformation.expect_update_to(first)  # UsePreviousTemplate, ModelPackageArn=first, other parameters kept
    said = _run(cloudformation, sagemaker)
    rejected = sagemaker.describe_model_package(ModelPackageName=second)
    assert rejected["ModelApprovalStatus"] == "Rejected" and "p99 latency regression" in rejected["ApprovalDescription"]
    reinstated = sagemaker.describe_model_package(ModelPackageName=first)
    assert reinstated["ModelApprovalStatus"] == "Approved"
    assert "superseded_by" not in reinstated["CustomerMetadataProperties"]
    assert reinstated["CustomerMetadataProperties"]["reinstated_after"] == second
    assert any("is the champion again" in line for line in said)


def test_dry_run_changes_nothing(sagemaker: Any, two_releases: tuple[str, str]) -> None:
    _, second = two_releases
    cloudformation = FakeCloudFormation(serving=second)
    cloudformation.expect_describe()  # and nothing else: an update call would fail the Stubber
    said = _run(cloudformation, sagemaker, dry_run=True)
    assert sagemaker.describe_model_package(ModelPackageName=second)["ModelApprovalStatus"] == "Approved"
    assert said[-1].startswith("dry run: would update")


def test_the_first_release_cannot_be_rolled_back(sagemaker: Any) -> None:
    only = register_package(sagemaker)
    _promote(sagemaker, only, "1")
    cloudformation = FakeCloudFormation(serving=only)
    cloudformation.expect_describe()
    with pytest.raises(ReleaseToolError, match="records no previous champion"):
        _run(cloudformation, sagemaker)


def test_a_stack_that_disagrees_with_the_registry_is_refused(sagemaker: Any, two_releases: tuple[str, str]) -> None:
    first, _ = two_releases
    cloudformation = FakeCloudFormation(serving=first)
    cloudformation.expect_describe()
    with pytest.raises(ReleaseToolError, match="production and the registry disagree"):
        _run(cloudformation, sagemaker)


def test_a_stack_still_updating_is_refused(sagemaker: Any, two_releases: tuple[str, str]) -> None:
    cloudformation = FakeCloudFormation(serving=two_releases[1])
    cloudformation.expect_describe(status="UPDATE_IN_PROGRESS")
    with pytest.raises(ReleaseToolError, match="is UPDATE_IN_PROGRESS: wait until it settles"):
        _run(cloudformation, sagemaker)


def test_the_cli_wires_the_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], sagemaker: Any, two_releases: tuple[str, str]
) -> None:
    cloudformation = FakeCloudFormation(serving=two_releases[1])
    cloudformation.expect_describe()

    class Session:
        def __init__(self, region_name: str | None) -> None:
            assert region_name == REGION

        def client(self, name: str) -> Any:
            return cloudformation.client if name == "cloudformation" else sagemaker

    monkeypatch.setattr(boto3, "Session", Session)
    with cloudformation.stubber:
        assert rollback.main(["--stack-name", STACK, "--region", REGION, "--dry-run"]) == 0
    assert "previous champion: " + two_releases[0] in capsys.readouterr().out


def test_promote_and_rollback_agree_on_the_metadata_keys() -> None:
    assert rollback.PREVIOUS_CHAMPION_KEY == champion_promotion.PREVIOUS_CHAMPION_KEY
    assert rollback.NO_PREVIOUS_CHAMPION == champion_promotion.NO_PREVIOUS_CHAMPION
    assert rollback.SUPERSEDED_KEYS == (champion_promotion.SUPERSEDED_BY_KEY, champion_promotion.SUPERSEDED_AT_KEY)


# -- interrupted rollbacks resume; a finished one is left alone ----------------------------------


class _Interrupted:
    """A waiter (or client method) that is Ctrl-C'd while it runs."""

    def wait(self, **_: Any) -> None:
        raise KeyboardInterrupt


def _interrupt_on_reject(monkeypatch: pytest.MonkeyPatch, sagemaker: Any) -> None:
    update = sagemaker.update_model_package

    def interrupted(**kwargs: Any) -> Any:
        if kwargs.get("ModelApprovalStatus") == "Rejected":
            raise KeyboardInterrupt
        return update(**kwargs)

    monkeypatch.setattr(sagemaker, "update_model_package", interrupted)


def _expecting_a_rollback(serving: str, *, to: str) -> FakeCloudFormation:
    cloudformation = FakeCloudFormation(serving=serving)
    cloudformation.expect_describe()
    cloudformation.expect_update_to(to)
    return cloudformation


def _assert_rolled_back(sagemaker: Any, first: str, second: str) -> None:
    assert sagemaker.describe_model_package(ModelPackageName=second)["ModelApprovalStatus"] == "Rejected"
    reinstated = sagemaker.describe_model_package(ModelPackageName=first)
    assert reinstated["ModelApprovalStatus"] == "Approved"
    assert reinstated["CustomerMetadataProperties"]["reinstated_after"] == second


def test_a_rollback_interrupted_while_the_stack_updates_resumes_by_waiting(
    monkeypatch: pytest.MonkeyPatch, sagemaker: Any, two_releases: tuple[str, str]
) -> None:
    first, second = two_releases
    cloudformation = _expecting_a_rollback(second, to=first)
    monkeypatch.setattr(cloudformation.client, "get_waiter", lambda _name: _Interrupted())
    with pytest.raises(KeyboardInterrupt):
        _run(cloudformation, sagemaker)
    interrupted = sagemaker.describe_model_package(ModelPackageName=second)
    assert interrupted["ModelApprovalStatus"] == "Approved"  # production and registry disagree until the re-run
    assert interrupted["CustomerMetadataProperties"]["rolling_back_to"] == first
    monkeypatch.undo()
    resumed = FakeCloudFormation(serving=first)
    resumed.expect_describe(status="UPDATE_IN_PROGRESS")  # no second UpdateStack: the Stubber would refuse it
    resumed.expect_describe()  # the waiter sees UPDATE_COMPLETE
    said = _run(resumed, sagemaker)
    assert any(line.startswith("resuming: stack") for line in said)
    _assert_rolled_back(sagemaker, first, second)


def test_a_rollback_interrupted_between_the_registry_steps_resumes_there(
    monkeypatch: pytest.MonkeyPatch, sagemaker: Any, two_releases: tuple[str, str]
) -> None:
    first, second = two_releases
    cloudformation = _expecting_a_rollback(second, to=first)
    _interrupt_on_reject(monkeypatch, sagemaker)
    with pytest.raises(KeyboardInterrupt):
        _run(cloudformation, sagemaker)
    monkeypatch.undo()
    resumed = FakeCloudFormation(serving=first)
    resumed.expect_describe()  # settled on the previous champion: straight to the registry steps
    said = _run(resumed, sagemaker)
    assert said[0].startswith(f"stack {STACK} serves {first}")
    _assert_rolled_back(sagemaker, first, second)


def test_a_finished_rollback_run_again_changes_nothing(sagemaker: Any, two_releases: tuple[str, str]) -> None:
    first, second = two_releases
    cloudformation = _expecting_a_rollback(second, to=first)
    _run(cloudformation, sagemaker)
    again = FakeCloudFormation(serving=first)
    again.expect_describe()  # and nothing else
    said = _run(again, sagemaker)
    assert said == [
        f"nothing to do: production already rolled back from {second} to {first}, the champion of "
        f"{sagemaker.describe_model_package(ModelPackageName=first)['ModelPackageGroupName']}; "
        f"pass --further to roll back from {first} too"
    ]
    _assert_rolled_back(sagemaker, first, second)


def test_a_stack_serving_the_previous_champion_without_a_started_rollback_is_refused(
    sagemaker: Any, two_releases: tuple[str, str]
) -> None:
    cloudformation = FakeCloudFormation(serving=two_releases[0])
    cloudformation.expect_describe()
    with pytest.raises(ReleaseToolError, match="production and the registry disagree"):
        _run(cloudformation, sagemaker)


def test_ctrl_c_in_the_cli_is_one_line_and_exit_130(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], sagemaker: Any, two_releases: tuple[str, str]
) -> None:
    first, second = two_releases
    cloudformation = _expecting_a_rollback(second, to=first)
    monkeypatch.setattr(cloudformation.client, "get_waiter", lambda _name: _Interrupted())
    monkeypatch.setattr(boto3, "Session", lambda region_name: type("S", (), {"client": lambda self, name: (
        cloudformation.client if name == "cloudformation" else sagemaker)})())  # fmt: skip
    with cloudformation.stubber:
        assert rollback.main(["--stack-name", STACK, "--reason", "test"]) == 130
    stderr = capsys.readouterr().err.strip().splitlines()
    assert len(stderr) == 1 and "Traceback" not in stderr[0]
    assert stderr[0].startswith("rollback: interrupted (last done: updating stack")
    assert stderr[0].endswith("run the same command again: it resumes where this stopped")


PRODUCTION_OPERATOR = "arn:aws:iam::333333333333:role/production-operator"


class _TwoAccounts:
    """boto3.Session as `main` uses it when production has its own account (README "Accounts"): the caller's
    session (pipeline account: registry, STS) and the session made from the production role's credentials."""

    def __init__(self, sagemaker: Any, production: FakeCloudFormation, sts: Any) -> None:
        self.sagemaker, self.production, self.sts = sagemaker, production, sts
        self.sessions: list[dict[str, Any]] = []

    def __call__(self, **kwargs: Any) -> Any:
        self.sessions.append(kwargs)
        production = kwargs.get("aws_access_key_id") == "ASIAPRODUCTIONROLE01"
        clients = {"cloudformation": self.production.client} if production else {"sagemaker": self.sagemaker, "sts": self.sts}
        # The pipeline account's CloudFormation is never asked: its session has no such client here.
        return type("Session", (), {"region_name": REGION, "client": lambda _self, name: clients[name]})()


def test_the_cli_rolls_back_a_production_account_stack_with_an_assumed_role(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], sagemaker: Any, two_releases: tuple[str, str]
) -> None:
    # main() wiring: the endpoint stack is read and updated with the production role's credentials, the registry
    # (pipeline account) with the caller's.
    first, second = two_releases
    production = _expecting_a_rollback(second, to=first)
    sts = shared_client("sts")
    credentials = {"AccessKeyId": "ASIAPRODUCTIONROLE01", "SecretAccessKey": "s", "SessionToken": "t", "Expiration": NOW}
    accounts = _TwoAccounts(sagemaker, production, sts)
    monkeypatch.setattr(boto3, "Session", accounts)
    with Stubber(sts) as assume, production.stubber:
        assume.add_response("assume_role", {"Credentials": credentials}, {"RoleArn": PRODUCTION_OPERATOR, "RoleSessionName": ANY})
        assert rollback.main(["--stack-name", STACK, "--region", REGION, "--production-role-arn", PRODUCTION_OPERATOR]) == 0
        assume.assert_no_pending_responses()
        production.stubber.assert_no_pending_responses()
    _assert_rolled_back(sagemaker, first, second)
    assert [s.get("aws_access_key_id") for s in accounts.sessions] == [None, "ASIAPRODUCTIONROLE01"]
    assert accounts.sessions[1]["region_name"] == REGION and accounts.sessions[1]["aws_session_token"] == "t"
    assert f"previous champion: {first}" in capsys.readouterr().out
