"""Staging and production in their own accounts (README "Accounts"): layout, templates, trust, scanners.

The cross-account app goes through the same checks as the single-account one:
every IAM check of tests/test_security_iam.py, cfn-lint, cdk-nag and checkov.
The single-account templates are pinned to recorded digests (asset hashes
normalized): first recorded before cross-account support existed, recorded
again since only by changes that meant to change them (`git log` of
tests/single_account_template_digests.json says which and why).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from stacks.accounts import (
    DEPLOY_INPUT_ARTIFACT,
    account_layout,
    deploy_input_objects,
    pipeline_prefix,
    pipeline_role_names,
    target_role_names,
)
from stacks.config import ConfigError, load_config
from tests import test_security_iam as iam_checks
from tests.synthesis_fixtures import CROSS_ACCOUNT_ENVIRONMENTS, SynthesizedApp, cdk_json_config, cdk_json_context
from tests.template_scans import TemplateScans

PIPELINE, STAGING, PRODUCTION = (CROSS_ACCOUNT_ENVIRONMENTS[k]["account"] for k in ("pipeline", "staging", "production"))
TARGET_ACCOUNTS = {"staging": STAGING, "production": PRODUCTION}
DIGESTS = Path(__file__).parent / "single_account_template_digests.json"
# The cross-account synthesis takes every value but the environments from cdk.json.
PROJECT = cdk_json_config().project_name
_ASSET_HASH = re.compile(rb"(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])")


def _config(environments: dict[str, Any]) -> Any:
    context = cdk_json_context()
    context["ml-cicd"] = {**context["ml-cicd"], "environments": environments}
    return load_config(context)


# -- the layout ----------------------------------------------------------------


def test_the_default_and_a_same_account_configuration_are_single_account() -> None:
    assert not account_layout(_config({})).cross_account
    same = {"account": PIPELINE, "region": "eu-west-1"}
    assert not account_layout(_config({"pipeline": same, "staging": same, "production": same})).cross_account


def test_a_stage_in_another_account_is_cross_account() -> None:
    layout = account_layout(_config({"pipeline": {"account": PIPELINE}, "production": {"account": PRODUCTION}}))
    assert layout.cross_account_stages() == ["production"]
    assert layout.role_arn("production", "x") == f"arn:aws:iam::{PRODUCTION}:role/x"


@pytest.mark.parametrize(
    ("environments", "key"),
    [
        (
            {"pipeline": {"account": PIPELINE, "region": "eu-west-1"}, "staging": {"account": STAGING, "region": "us-east-1"}},
            "ml-cicd.environments.staging.region",
        ),
        (
            {"pipeline": {"account": PIPELINE}, "production": {"account": PRODUCTION, "region": "eu-west-1"}},
            "ml-cicd.environments.pipeline.region",
        ),
        ({"staging": {"account": STAGING}}, "ml-cicd.environments.pipeline.account"),
    ],
)
def test_an_unusable_layout_is_refused_in_one_line_naming_the_key(environments: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as raised:
        account_layout(_config(environments))
    assert str(raised.value).startswith(f"invalid configuration {key}:") and "\n" not in str(raised.value)


def test_role_names_fit_iam_limits_for_the_longest_project_name() -> None:
    project = "a" * 32
    names = [*vars(target_role_names(project, "production")).values(), *vars(pipeline_role_names(project)).values()]
    assert max(len(name) for name in names) <= 64


# -- single account: unchanged --------------------------------------------------


def template_digest(path: Path) -> str:
    """SHA-256 of the template's bytes, CDK asset hashes (64 hex digits) replaced by a placeholder.

    An asset hash is the hash of bundled code (release_tools/, the functions): it changes with that code's
    content, not with the template, so it is not part of what must stay identical.
    """
    return hashlib.sha256(_ASSET_HASH.sub(b"<asset>", path.read_bytes())).hexdigest()


def test_single_account_templates_match_their_recorded_digests(synthesized: SynthesizedApp) -> None:
    recorded = json.loads(DIGESTS.read_text())
    now = {name: template_digest(synthesized.paths[name]) for name in recorded["sha256"]}
    assert set(synthesized.templates) == set(recorded["sha256"]), "a default synthesis has no target stack"
    assert now == recorded["sha256"], (
        f"the default templates differ from those recorded at {recorded['recorded_at']}; if another change (not the "
        "cross-account support) changed them on purpose, record again: python -m tests.test_accounts"
    )


# -- cross account: the same checks as single account ----------------------------


def _checks_of(module: Any) -> list[Callable[[SynthesizedApp], None]]:
    """The module's test functions that take the synthesized app and nothing else."""
    return [
        function
        for name, function in inspect.getmembers(module, inspect.isfunction)
        if name.startswith("test_") and list(inspect.signature(function).parameters) == ["synthesized"]
    ]


@pytest.mark.parametrize("check", _checks_of(iam_checks), ids=lambda check: check.__name__)
def test_the_iam_checks_hold_for_the_cross_account_app(
    check: Callable[[SynthesizedApp], None], synthesized_cross_account: SynthesizedApp
) -> None:
    check(synthesized_cross_account)


def test_cdk_nag_accepts_the_cross_account_app(synthesized_cross_account: SynthesizedApp) -> None:
    assert synthesized_cross_account.nag_error is None, synthesized_cross_account.nag_error


def test_cfn_lint_accepts_the_cross_account_templates(
    synthesized_cross_account: SynthesizedApp, template_scans: TemplateScans
) -> None:
    paths = list(synthesized_cross_account.paths.values())
    assert len(paths) == 5  # pipeline, two endpoints, two target stacks
    findings = template_scans.cfn_lint.findings_in(paths)  # one cfn-lint run covers every scanned variant
    assert [f"{f['Rule']['Id']} {f['Filename']}: {f['Message']}" for f in findings] == []
    assert template_scans.cfn_lint.ran_cleanly, template_scans.cfn_lint.stderr


@pytest.mark.parametrize("names", [("pipeline",), ("staging-target", "production-target")], ids=["pipeline", "targets"])
def test_checkov_finds_no_failed_check_in_the_cross_account_templates(
    names: tuple[str, ...], synthesized_cross_account: SynthesizedApp, template_scans: TemplateScans
) -> None:
    # One checkov run covers every scanned variant (tests/template_scans.py); this is its verdict on `names`.
    result = template_scans.checkov([synthesized_cross_account.paths[name] for name in names])
    assert result.resources >= 6, result.summary()  # the target stacks: three roles and their policies each
    assert not result.failed, result.summary() + "\n" + "\n".join(f.line() for f in result.failed)


# -- cross account: who trusts whom ---------------------------------------------


def _resources(template: dict[str, Any], kind: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] == kind:
            yield logical_id, resource.get("Properties", {})


def _roles_by_name(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {props["RoleName"]: props for _, props in _resources(template, "AWS::IAM::Role") if "RoleName" in props}


def _trusted(role: dict[str, Any]) -> list[Any]:
    principals = []
    for statement in role["AssumeRolePolicyDocument"]["Statement"]:
        assert statement["Effect"] == "Allow" and statement["Action"] == "sts:AssumeRole"
        for kind, value in statement["Principal"].items():
            principals += [(kind, v) for v in iam_checks.as_list(value)]
    return sorted(principals, key=json.dumps)


@pytest.mark.parametrize("stage", ["staging", "production"])
def test_each_target_role_trusts_only_the_pipeline_role_it_serves_by_arn(
    stage: str, synthesized_cross_account: SynthesizedApp
) -> None:
    roles = _roles_by_name(synthesized_cross_account.templates[f"{stage}-target"])
    names, pipeline_roles = target_role_names(PROJECT, stage), pipeline_role_names(PROJECT)
    arn = f"arn:aws:iam::{PIPELINE}:role/{{}}".format
    gate = pipeline_roles.staging_gate if stage == "staging" else pipeline_roles.promote
    assert set(roles) == {names.deploy, names.execution, names.endpoint_reader}
    assert _trusted(roles[names.deploy]) == [("AWS", arn(pipeline_roles.pipeline)), ("Service", "cloudformation.amazonaws.com")]
    assert _trusted(roles[names.endpoint_reader]) == [("AWS", arn(gate))]
    assert _trusted(roles[names.execution]) == [("Service", "sagemaker.amazonaws.com")]


def test_the_pipeline_roles_the_targets_trust_exist_with_those_names(synthesized_cross_account: SynthesizedApp) -> None:
    named = _roles_by_name(synthesized_cross_account.pipeline)
    assert set(vars(pipeline_role_names(PROJECT)).values()) <= set(named)


def _cross_account_statements(synthesized: SynthesizedApp) -> Iterator[tuple[str, dict[str, Any]]]:
    """Allow statements of the pipeline account's resource policies that name another account."""
    pipeline = synthesized.pipeline
    documents = [(lid, kind, doc) for lid, kind, doc in iam_checks.policy_documents(pipeline)]
    documents += [
        (lid, "ModelPackageGroupPolicy", props["ModelPackageGroupPolicy"])
        for lid, props in _resources(pipeline, "AWS::SageMaker::ModelPackageGroup")
    ]
    documents += [
        (lid, "AWS::ECR::Repository", props["RepositoryPolicyText"])
        for lid, props in _resources(pipeline, "AWS::ECR::Repository")
        if "RepositoryPolicyText" in props
    ]
    for logical_id, kind, document in documents:
        for statement in iam_checks.as_list(document["Statement"]):
            text = json.dumps(statement.get("Principal", {}))
            if statement["Effect"] == "Allow" and any(account in text for account in TARGET_ACCOUNTS.values()):
                yield f"{kind}|{logical_id}|{statement.get('Sid')}", statement


def test_pipeline_account_resource_policies_grant_target_accounts_only_their_roles(
    synthesized_cross_account: SynthesizedApp,
) -> None:
    statements = list(_cross_account_statements(synthesized_cross_account))
    kinds = {where.split("|")[0] for where, _ in statements}
    assert kinds == {"AWS::S3::BucketPolicy", "AWS::KMS::Key", "ModelPackageGroupPolicy", "AWS::ECR::Repository"}
    created = {
        f"arn:aws:iam::{TARGET_ACCOUNTS[stage]}:role/{name}"
        for stage in TARGET_ACCOUNTS
        for name in _roles_by_name(synthesized_cross_account.templates[f"{stage}-target"])
    }
    for where, statement in statements:
        (account,) = {a for a in TARGET_ACCOUNTS.values() if a in json.dumps(statement["Principal"])}
        assert json.dumps(statement["Principal"]).endswith(f':iam::{account}:root"}}'), where
        arns = statement["Condition"]["ArnEquals"]["aws:PrincipalArn"]
        assert arns and set(arns) <= created and all(f":iam::{account}:role/" in arn for arn in arns), where
        assert not any(a.endswith(("*", ":*")) for a in iam_checks.as_list(statement["Action"])), where


def test_the_wildcard_principal_check_walks_the_cross_account_resource_policies(
    synthesized_cross_account: SynthesizedApp,
) -> None:
    # test_no_allow_names_a_wildcard_principal (run over this app above) must see the policies only the
    # cross-account layout has: the model package group's and the image repository's.
    kinds = {kind for _, kind, _ in iam_checks.principal_documents(synthesized_cross_account.pipeline)}
    assert {"AWS::SageMaker::ModelPackageGroup.ModelPackageGroupPolicy", "AWS::ECR::Repository.RepositoryPolicyText"} <= kinds


def test_the_deploy_role_reads_only_the_deploy_actions_input_artifact(synthesized_cross_account: SynthesizedApp) -> None:
    # Not every pipeline artifact (the source, the build output): only `<pipeline, 20>/TrainOutpu/*`, in the bucket
    # policy (pipeline account) and in the deploy role's own policy (target account).
    assert deploy_input_objects(PROJECT) == f"{pipeline_prefix(PROJECT)}/TrainOutpu/*"
    reads = [s for where, s in _cross_account_statements(synthesized_cross_account) if "ReadsTemplates" in where]
    assert len(reads) == 2
    for statement in reads:
        resource = json.dumps(statement["Resource"])
        assert resource.endswith(f'"/{deploy_input_objects(PROJECT)}"]]}}'), resource
    for stage in TARGET_ACCOUNTS:
        (own,) = [s for s in _deploy_role_statements(synthesized_cross_account, stage) if s.get("Sid") == "ReadEndpointTemplates"]
        assert json.dumps(own["Resource"]).endswith(f'"/{deploy_input_objects(PROJECT)}"]]}}'), own
    cfn = _pipeline_definition(synthesized_cross_account)
    assert cfn["Name"].startswith(pipeline_prefix(PROJECT))
    # That folder holds everything the deploy actions read: their only input artifact is the Train stage's output.
    inputs = {i["Name"] for a in _actions(cfn) if a["ActionTypeId"]["Provider"] == "CloudFormation" for i in a["InputArtifacts"]}
    assert inputs == {DEPLOY_INPUT_ARTIFACT}


def test_the_deploy_roles_create_grants_on_the_artifact_key_only_for_sagemaker(synthesized_cross_account: SynthesizedApp) -> None:
    # kms:CreateGrant, in the pipeline account's key policy and in the role's own policy, holds only when an AWS
    # service asks on the role's behalf (kms:GrantIsForAWSResource): a leaked session cannot hand the key out.
    grants = [
        (where, s)
        for where, s in _cross_account_statements(synthesized_cross_account)
        if "kms:CreateGrant" in iam_checks.as_list(s["Action"])
    ]
    grants += [
        (f"{stage}-target", s)
        for stage in TARGET_ACCOUNTS
        for s in _deploy_role_statements(synthesized_cross_account, stage)
        if "kms:CreateGrant" in iam_checks.as_list(s["Action"])
    ]
    assert len(grants) == 4, grants
    for where, statement in grants:
        assert iam_checks.as_list(statement["Action"]) == ["kms:CreateGrant"], where
        assert statement["Condition"]["Bool"] == {"kms:GrantIsForAWSResource": "true"}, where


def _deploy_role_statements(synthesized: SynthesizedApp, stage: str) -> list[dict[str, Any]]:
    template = synthesized.templates[f"{stage}-target"]
    (role,) = [
        lid for lid, p in _resources(template, "AWS::IAM::Role") if p["RoleName"] == target_role_names(PROJECT, stage).deploy
    ]
    return [
        statement
        for _, props in _resources(template, "AWS::IAM::Policy")
        if {"Ref": role} in props["Roles"]
        for statement in iam_checks.as_list(props["PolicyDocument"]["Statement"])
    ]


def _actions(pipeline: dict[str, Any]) -> list[dict[str, Any]]:
    return [action for stage in pipeline["Stages"] for action in stage["Actions"]]


def test_the_execution_roles_read_only_serving_models(synthesized_cross_account: SynthesizedApp) -> None:
    reads = [s for where, s in _cross_account_statements(synthesized_cross_account) if "ReadsModels" in where]
    assert len(reads) == 2 and all(json.dumps(s["Resource"]).endswith('"/releases/*/model/*"]]}') for s in reads)


def _pipeline_definition(synthesized: SynthesizedApp) -> dict[str, Any]:
    ((_, pipeline),) = _resources(synthesized.pipeline, "AWS::CodePipeline::Pipeline")
    return pipeline


def test_deploy_actions_run_with_the_target_accounts_deploy_roles(synthesized_cross_account: SynthesizedApp) -> None:
    pipeline = _pipeline_definition(synthesized_cross_account)
    deploys = {
        action["Configuration"]["StackName"]: action
        for stage in pipeline["Stages"]
        for action in stage["Actions"]
        if action["ActionTypeId"]["Provider"] == "CloudFormation"
    }
    for stage, account in TARGET_ACCOUNTS.items():
        action = deploys[f"{PROJECT}-{stage}-endpoint"]
        role = f"arn:aws:iam::{account}:role/{target_role_names(PROJECT, stage).deploy}"
        assert action["RoleArn"] == action["Configuration"]["RoleArn"] == role
        overrides = json.dumps(action["Configuration"]["ParameterOverrides"])
        assert f"arn:aws:iam::{account}:role/{target_role_names(PROJECT, stage).execution}" in overrides
    assumed = {
        arn
        for where, s in iam_checks.allow_statements(synthesized_cross_account)
        if "ReleasePipelineRole" in where and s["Action"] == "sts:AssumeRole"
        for arn in iam_checks.as_list(s["Resource"])
    }
    assert assumed == {action["RoleArn"] for action in deploys.values()}


def _function_environment(synthesized: SynthesizedApp, description_start: str) -> tuple[str, dict[str, str]]:
    for logical_id, props in _resources(synthesized.pipeline, "AWS::Lambda::Function"):
        if str(props.get("Description", "")).startswith(description_start):
            return logical_id, props.get("Environment", {}).get("Variables", {})
    raise AssertionError(f"no function described {description_start!r}")


@pytest.mark.parametrize(
    ("stage", "description"),
    [("staging", f"{PROJECT} staging gate"), ("production", f"{PROJECT}: verifies the production endpoint")],
)
def test_the_gate_of_each_stage_assumes_that_accounts_reader_role(
    stage: str, description: str, synthesized_cross_account: SynthesizedApp
) -> None:
    from function_kit.target_account import READER_ROLE_VARIABLE

    _, environment = _function_environment(synthesized_cross_account, description)
    reader = f"arn:aws:iam::{TARGET_ACCOUNTS[stage]}:role/{target_role_names(PROJECT, stage).endpoint_reader}"
    assert environment[READER_ROLE_VARIABLE] == reader
    assumes = [
        s
        for _, s in iam_checks.allow_statements(synthesized_cross_account)
        if s["Action"] == "sts:AssumeRole" and s["Resource"] == reader
    ]
    assert len(assumes) == 1


def test_the_single_account_gates_assume_no_role(synthesized: SynthesizedApp) -> None:
    from function_kit.target_account import READER_ROLE_VARIABLE

    for description in (f"{PROJECT} staging gate", f"{PROJECT}: verifies the production endpoint"):
        assert READER_ROLE_VARIABLE not in _function_environment(synthesized, description)[1]


def test_the_staging_reader_may_invoke_and_the_production_reader_only_reads(synthesized_cross_account: SynthesizedApp) -> None:
    for stage, may_invoke in (("staging", True), ("production", False)):
        actions = _reader_actions(synthesized_cross_account, stage)
        assert ("sagemaker:InvokeEndpoint" in actions) is may_invoke
        assert "sagemaker:DescribeEndpoint" in actions


def _reader_actions(synthesized: SynthesizedApp, stage: str) -> set[str]:
    template = synthesized.templates[f"{stage}-target"]
    readers = {
        lid
        for lid, props in _resources(template, "AWS::IAM::Role")
        if props.get("RoleName") == target_role_names(PROJECT, stage).endpoint_reader
    }
    return {
        action
        for _, props in _resources(template, "AWS::IAM::Policy")
        if any(role.get("Ref") in readers for role in props["Roles"])
        for statement in props["PolicyDocument"]["Statement"]
        for action in iam_checks.as_list(statement["Action"])
    }


def _record() -> None:
    """Record the default templates' digests (run on a commit whose default templates are the reference)."""
    import tempfile

    from tests.synthesis_fixtures import synthesize

    app = synthesize(Path(tempfile.mkdtemp()), cdk_json_context(), nag=True)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    digests = {name: template_digest(path) for name, path in sorted(app.paths.items())}
    DIGESTS.write_text(json.dumps({"recorded_at": commit, "sha256": digests}, indent=2) + "\n")


if __name__ == "__main__":
    _record()


# -- the threat model says what the templates do ---------------------------------


def _threat_model_rows() -> dict[str, tuple[str, str]]:
    """docs/security.md "When staging and production have their own accounts": {row name: (can, cannot)}."""
    text = (Path(__file__).parent.parent / "docs" / "security.md").read_text()
    section = text.split("### When staging and production have their own accounts", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        if line.startswith("| **"):
            name, can, cannot = (cell.strip() for cell in line.strip("|").split(" | "))
            rows[name.split("**")[1]] = (can, cannot)
    return rows


def test_the_threat_model_says_the_pipeline_account_holds_productions_capture_and_key(
    synthesized_cross_account: SynthesizedApp,
) -> None:
    # What the template does: production captures into the pipeline account's release bucket, and its volumes and
    # capture use the pipeline account's key ...
    deploy = next(
        a
        for a in _actions(_pipeline_definition(synthesized_cross_account))
        if a["Name"] == "Deploy" and "production" in a["Configuration"]["StackName"]
    )
    parts = deploy["Configuration"]["ParameterOverrides"]["Fn::Join"][1]
    bucket = next(
        lid for lid, _ in _resources(synthesized_cross_account.pipeline, "AWS::S3::Bucket") if lid.startswith("ReleaseStore")
    )
    key = next(
        lid for lid, _ in _resources(synthesized_cross_account.pipeline, "AWS::KMS::Key") if lid.startswith("ArtifactStore")
    )
    at = parts.index({"Ref": bucket})
    assert parts[at - 1].endswith('"DataCaptureS3Uri":"s3://') and parts[at + 1].startswith("/data-capture/production")
    assert parts[parts.index({"Fn::GetAtt": [key, "Arn"]}) - 1].endswith('"KmsKeyArn":"')
    (config,) = [p for _, p in _resources(synthesized_cross_account.production, "AWS::SageMaker::EndpointConfig")]
    assert {o["CaptureMode"] for o in config["DataCaptureConfig"]["CaptureOptions"]} == {"Input", "Output"}
    # ... and the threat model says so, in the pipeline account's "can" column, without the old contrary claim.
    rows = _threat_model_rows()
    assert set(rows) == {"pipeline account", "staging account", "production account", "a target account's deploy role"}
    can, cannot = rows["pipeline account"]
    assert "captured traffic" in can and "data-capture/production/" in can and "requests *and* responses" in can
    assert "artifact key" in can and "disabling the key" in can
    assert "beyond what the endpoint returns" not in cannot
    assert (
        "kms:CreateGrant" in rows["a target account's deploy role"][0]
        and "kms:GrantIsForAWSResource" in rows["a target account's deploy role"][0]
    )
    assert "TrainOutpu/*" in rows["staging account"][0]


def _readme_section(title: str) -> str:
    text = (Path(__file__).parent.parent / "README.md").read_text()
    return text.split(f"### {title}\n", 1)[1].split("\n### ", 1)[0]


@pytest.mark.parametrize("staging_mode", ["serverless", "instances"])
def test_the_console_table_claims_alarms_and_autoscaling_only_where_the_templates_have_them(staging_mode: str) -> None:
    import aws_cdk as cdk
    from aws_cdk.assertions import Template

    from stacks.endpoint_stack import EndpointStack
    from stacks.endpoint_templates import endpoint_props

    config = _config({}) if staging_mode == "serverless" else load_config({"ml-cicd": {"staging": {"mode": staging_mode}}})
    app, props = cdk.App(context={"@aws-cdk/core:validationReportJson": False}), endpoint_props(config)
    rows = [
        line.strip("|").split(" | ") for line in _readme_section("What each console shows").splitlines() if line.startswith("| ")
    ]
    stacks = {stage: EndpointStack(app, stage.title(), props=props[stage]) for stage in ("staging", "production")}
    for stage, stack in stacks.items():
        kinds = {r["Type"] for r in Template.from_stack(stack).to_json()["Resources"].values()}
        claimed = " ".join(f"{console} {found}" for account, console, found in rows if stage in account).lower()
        has = {"alarms": "AWS::CloudWatch::Alarm" in kinds, "autoscaling": "AWS::ApplicationAutoScaling::ScalableTarget" in kinds}
        for what, present in has.items():
            assert (what in claimed) == present, (stage, what, claimed)


def test_the_trust_diagram_shows_every_pipeline_account_resource_a_target_role_uses() -> None:
    diagram = _readme_section("Who trusts whom").split("```mermaid", 1)[1].split("```", 1)[0]
    for node in ("artifact bucket", "release bucket", "KMS key", "model package group", "model image repository"):
        assert node in diagram, node
    assert "TrainOutput" in diagram and "data-capture/production" in diagram and "releases/*/model/*" in diagram
