"""Reaching a target account (README "Accounts"): the gates' assume-role path (Stubber), the rollback's
production credentials, and `make deploy-target` against moto's CloudFormation."""

from __future__ import annotations

import argparse
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from function_kit.served_model import ServedModelError
from function_kit.target_account import READER_ROLE_VARIABLE, EndpointAccessError, EndpointSessions
from function_kit_fixtures import FUNCTION_ACCESS_KEY, REGION, aws_credentials  # noqa: F401
from promote import handler as promote_handler
from release_tools import rollback
from release_tools.errors import ReleaseToolError
from scripts import deploy_target
from stacks.components.cross_account_access import READER_ROLE_VARIABLE as STACK_READER_ROLE_VARIABLE
from staging_gate import handler as staging_handler
from tests.synthesis_fixtures import SynthesizedApp


@pytest.fixture
def staging_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    """The staging gate's deployed configuration in the cross-account app (the runtime-permission check judges
    the calls against that app's roles)."""
    monkeypatch.setenv(READER_ROLE_VARIABLE, READER)
    monkeypatch.setenv("RECORD_PREFIX", "decision-records/")


READER = "arn:aws:iam::222222222222:role/ml-cicd-staging-endpoint-reader"
PRODUCTION_READER = "arn:aws:iam::333333333333:role/ml-cicd-production-endpoint-reader"
NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def _assumed(key: str = "ASIAREADERROLE000001", expires: datetime = NOW + timedelta(hours=1)) -> dict[str, Any]:
    return {
        "Credentials": {
            "AccessKeyId": key,
            "SecretAccessKey": "reader-secret",
            "SessionToken": "reader-token",
            "Expiration": expires,
        }
    }


def _stubbed_sts(
    *answers: dict[str, Any], session_name: str = "staging-gate", error: str | None = None, role: str = READER
) -> Any:
    sts = boto3.client("sts", region_name=REGION)
    stubber = Stubber(sts)
    for answer in answers:
        stubber.add_response("assume_role", answer, {"RoleArn": role, "RoleSessionName": session_name})
    if error:
        stubber.add_client_error("assume_role", service_error_code=error, service_message="not authorized\nsecond line")
    stubber.activate()
    return sts


def _access_key(client: Any) -> str:
    return str(client._request_signer._credentials.access_key)


def test_the_stack_and_the_functions_name_the_same_variable() -> None:
    assert READER_ROLE_VARIABLE == STACK_READER_ROLE_VARIABLE


def test_without_a_reader_role_the_functions_own_credentials_are_used(aws_credentials: None) -> None:  # noqa: F811
    sessions = EndpointSessions(session_name="staging-gate", sts=lambda: pytest.fail("no role: no AssumeRole"))
    assert _access_key(sessions.client("sagemaker", {})) == FUNCTION_ACCESS_KEY


def test_with_a_reader_role_the_endpoint_clients_run_with_its_credentials(aws_credentials: None, staging_reader: None) -> None:  # noqa: F811
    sts = _stubbed_sts(_assumed())
    sessions = EndpointSessions(session_name="staging-gate", sts=lambda: sts, now=lambda: NOW)
    environ = os.environ
    assert _access_key(sessions.client("sagemaker", environ)) == "ASIAREADERROLE000001"
    # Reused: the Stubber holds one answer, a second AssumeRole would fail the test.
    assert _access_key(sessions.client("sagemaker-runtime", environ)) == "ASIAREADERROLE000001"


def test_credentials_are_renewed_before_they_expire(aws_credentials: None, staging_reader: None) -> None:  # noqa: F811
    sts = _stubbed_sts(_assumed(expires=NOW + timedelta(minutes=4)), _assumed("ASIAREADERROLE000002"))
    sessions = EndpointSessions(session_name="staging-gate", sts=lambda: sts, now=lambda: NOW)
    environ = os.environ
    sessions.session(environ)
    assert _access_key(sessions.client("sagemaker", environ)) == "ASIAREADERROLE000002"


def test_a_refused_assume_role_is_one_line_naming_the_role(aws_credentials: None, staging_reader: None) -> None:  # noqa: F811
    sts = _stubbed_sts(error="AccessDenied")
    sessions = EndpointSessions(session_name="staging-gate", sts=lambda: sts)
    with pytest.raises(EndpointAccessError) as raised:
        sessions.client("sagemaker")
    assert str(raised.value) == f"AssumeRole {READER} failed: AccessDenied: not authorized"
    assert isinstance(raised.value, ServedModelError)  # the gates record it as an unreadable endpoint


def test_the_staging_gates_default_clients_assume_the_reader_role(
    aws_credentials: None,  # noqa: F811
    staging_reader: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sts = _stubbed_sts(_assumed())
    monkeypatch.setattr(
        staging_handler, "_ENDPOINT_ACCOUNT", EndpointSessions(session_name="staging-gate", sts=lambda: sts, now=lambda: NOW)
    )
    services = staging_handler.StagingGateServices()
    assert _access_key(services.sagemaker()) == "ASIAREADERROLE000001"
    runtime = services.runtime(connect_timeout=2, read_timeout=5)
    assert _access_key(runtime) == "ASIAREADERROLE000001"
    assert runtime.meta.service_model.service_name == "sagemaker-runtime"
    assert runtime.meta.config.read_timeout == 5


def test_production_verification_reads_the_endpoint_as_the_reader_and_the_registry_as_itself(
    aws_credentials: None,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sts = _stubbed_sts(_assumed(), session_name="production-verification", role=PRODUCTION_READER)
    monkeypatch.setattr(
        promote_handler,
        "_ENDPOINT_ACCOUNT",
        EndpointSessions(session_name="production-verification", sts=lambda: sts, now=lambda: NOW),
    )
    monkeypatch.setenv(READER_ROLE_VARIABLE, PRODUCTION_READER)
    monkeypatch.setenv("RECORD_PREFIX", "decision-records/")
    monkeypatch.setenv("MODEL_PACKAGE_GROUP_NAME", "ml-cicd-models")
    registry = boto3.client("sagemaker", region_name=REGION)
    services = promote_handler.PromoteServices(sagemaker=lambda: registry)
    endpoint = promote_handler._endpoint_client(services, os.environ, registry)
    assert _access_key(endpoint) == "ASIAREADERROLE000001" and _access_key(registry) == FUNCTION_ACCESS_KEY
    assert promote_handler._endpoint_client(services, {}, registry) is registry


def test_the_runtime_permission_check_refuses_an_assume_role_the_gate_is_not_granted(
    synthesized_cross_account: SynthesizedApp,
) -> None:
    from tests.aws_runtime_permissions import RecordedCall, judge

    def call(role: str) -> RecordedCall:
        return RecordedCall(
            "lambdas/staging_gate",
            "sts",
            "AssumeRole",
            {"RoleArn": role, "RoleSessionName": "s"},
            {READER_ROLE_VARIABLE: READER, "RECORD_PREFIX": "decision-records/"},
        )

    assert judge([call(READER)], synthesized_cross_account.pipeline) == []
    assert judge([call(PRODUCTION_READER)], synthesized_cross_account.pipeline)


# -- the rollback tool against a production account ------------------------------------------------


def _args(**overrides: Any) -> argparse.Namespace:
    return argparse.Namespace(**{"production_profile": None, "production_role_arn": None, "region": REGION, **overrides})


def test_rollback_uses_the_callers_credentials_for_a_single_account_production(aws_credentials: None) -> None:  # noqa: F811
    session = boto3.Session(region_name=REGION)
    assert _access_key(rollback.cloudformation_client(session, _args())) == FUNCTION_ACCESS_KEY


def test_rollback_assumes_the_production_role_for_the_endpoint_stack_only(aws_credentials: None) -> None:  # noqa: F811
    role = "arn:aws:iam::333333333333:role/operator"
    sts = boto3.client("sts", region_name=REGION)
    with Stubber(sts) as stubber:
        stubber.add_response("assume_role", _assumed("ASIAPRODUCTIONROLE01"), {"RoleArn": role, "RoleSessionName": ANY})
        client = rollback.cloudformation_client(boto3.Session(region_name=REGION), _args(production_role_arn=role), sts=sts)
    assert _access_key(client) == "ASIAPRODUCTIONROLE01" and client.meta.region_name == REGION


def test_rollback_reports_a_refused_production_role_in_one_line(aws_credentials: None) -> None:  # noqa: F811
    sts = boto3.client("sts", region_name=REGION)
    with Stubber(sts) as stubber:
        stubber.add_client_error("assume_role", service_error_code="AccessDenied", service_message="no")
        with pytest.raises(ReleaseToolError, match=r"^AssumeRole arn:aws:iam::333333333333:role/operator failed: "):
            rollback.cloudformation_client(
                boto3.Session(region_name=REGION), _args(production_role_arn="arn:aws:iam::333333333333:role/operator"), sts=sts
            )


def test_rollback_uses_a_named_production_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    credentials = tmp_path / "credentials"
    credentials.write_text("[production]\naws_access_key_id = AKIAPRODUCTIONPROFILE\naws_secret_access_key = s\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    client = rollback.cloudformation_client(boto3.Session(region_name=REGION), _args(production_profile="production"))
    assert _access_key(client) == "AKIAPRODUCTIONPROFILE"


def test_rollback_takes_a_profile_or_a_role_not_both() -> None:
    with pytest.raises(SystemExit):
        rollback._parse(["--stack-name", "s", "--production-profile", "p", "--production-role-arn", "arn"])


# -- make deploy-target ---------------------------------------------------------------------------


class _Session:
    """A boto3-session stand-in whose clients are stubbed (moto's CloudFormation needs extras not installed)."""

    def __init__(self, account: str) -> None:
        self.clients = {name: boto3.client(name, region_name=REGION) for name in ("sts", "cloudformation")}
        self.stubbers = {name: Stubber(client) for name, client in self.clients.items()}
        self.stubbers["sts"].add_response(
            "get_caller_identity", {"Account": account, "Arn": f"arn:aws:iam::{account}:root", "UserId": "AIDATESTUSER"}
        )

    def client(self, name: str) -> Any:
        self.stubbers[name].activate()
        return self.clients[name]


def _stack(status: str, outputs: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "Stacks": [
            {
                "StackName": "ml-cicd-staging-target",
                "StackStatus": status,
                "CreationTime": NOW,
                "Outputs": [{"OutputKey": k, "OutputValue": v} for k, v in (outputs or {}).items()],
            }
        ]
    }


def test_deploy_target_refuses_another_accounts_credentials(
    synthesized_cross_account: SynthesizedApp,
    aws_credentials: None,  # noqa: F811
) -> None:
    target = deploy_target.find_target(synthesized_cross_account.outdir, "staging")
    with pytest.raises(deploy_target.DeployTargetError, match=r"account 333333333333's; .* account 222222222222"):
        deploy_target.deploy_target(_Session("333333333333"), target, bucket="artifacts", release_bucket="releases", key_arn="k")


def test_deploy_target_creates_the_stack_with_the_pipelines_bucket_and_key(
    synthesized_cross_account: SynthesizedApp,
    aws_credentials: None,  # noqa: F811
) -> None:
    target = deploy_target.find_target(synthesized_cross_account.outdir, "staging")
    assert (target.stack_name, target.account, target.region) == ("ml-cicd-staging-target", "222222222222", REGION)
    key = "arn:aws:kms:eu-west-1:111111111111:key/0b6c1f2e-1111-2222-3333-444455556666"
    session = _Session("222222222222")
    cloudformation = session.stubbers["cloudformation"]
    cloudformation.add_client_error(
        "describe_stacks",
        service_error_code="ValidationError",
        service_message="Stack with id ml-cicd-staging-target does not exist",
    )
    cloudformation.add_response(
        "create_stack",
        {"StackId": "arn:aws:cloudformation:eu-west-1:222222222222:stack/x/1"},
        {
            "StackName": "ml-cicd-staging-target",
            "TemplateBody": target.template_body,
            "Capabilities": ["CAPABILITY_NAMED_IAM"],
            "Parameters": [
                {"ParameterKey": "ArtifactBucketName", "ParameterValue": "artifacts"},
                {"ParameterKey": "ReleaseBucketName", "ParameterValue": "releases"},
                {"ParameterKey": "ArtifactKeyArn", "ParameterValue": key},
            ],
        },
    )
    outputs = {"DeployRoleArn": "arn:aws:iam::222222222222:role/ml-cicd-staging-deploy"}
    cloudformation.add_response("describe_stacks", _stack("CREATE_COMPLETE", outputs))  # the waiter
    cloudformation.add_response("describe_stacks", _stack("CREATE_COMPLETE", outputs))
    assert deploy_target.deploy_target(session, target, bucket="artifacts", release_bucket="releases", key_arn=key) == outputs
    cloudformation.assert_no_pending_responses()


def test_deploy_target_updates_an_existing_stack_and_accepts_no_change(
    synthesized_cross_account: SynthesizedApp,
    aws_credentials: None,  # noqa: F811
) -> None:
    target = deploy_target.find_target(synthesized_cross_account.outdir, "production")
    session = _Session("333333333333")
    cloudformation = session.stubbers["cloudformation"]
    cloudformation.add_response("describe_stacks", _stack("CREATE_COMPLETE"))
    cloudformation.add_client_error(
        "update_stack", service_error_code="ValidationError", service_message="No updates are to be performed."
    )
    cloudformation.add_response("describe_stacks", _stack("CREATE_COMPLETE", {"A": "b"}))
    assert deploy_target.deploy_target(session, target, bucket="artifacts", release_bucket="releases", key_arn="k") == {"A": "b"}


def test_teardown_names_the_endpoint_stack_of_a_target_account_instead_of_missing_it(
    synthesized_cross_account: SynthesizedApp,
    aws_credentials: None,  # noqa: F811
) -> None:
    from scripts.lifecycle import Clients, teardown

    cloudformation = boto3.client("cloudformation", region_name=REGION)
    with Stubber(cloudformation) as stubber:
        for name in ("ml-cicd-staging-endpoint", "ml-cicd-pipeline"):
            stubber.add_client_error(
                "describe_stacks",
                service_error_code="ValidationError",
                service_message=f"Stack with id {name} does not exist",
                expected_params={"StackName": name},
            )
        said: list[str] = []
        teardown(
            Clients(cloudformation, None, None),
            project_name="ml-cicd",
            template=synthesized_cross_account.pipeline,
            say=said.append,
            target_accounts={"staging": None, "production": PRODUCTION_READER.split(":")[4]},
        )
    assert said[0] == (
        "teardown: ml-cicd-production-endpoint is in account 333333333333: delete it, then "
        "ml-cicd-production-target, with that account's credentials"
    )
    assert said[1:] == ["teardown: ml-cicd-staging-endpoint: not deployed", "teardown: ml-cicd-pipeline: not deployed"]


def test_deploy_target_refuses_a_stage_in_the_pipeline_account(synthesized: SynthesizedApp) -> None:
    with pytest.raises(deploy_target.DeployTargetError, match="no stage deploys into another account"):
        deploy_target.find_target(synthesized.outdir, "staging")
