"""Issue 19: an account bootstrapped with its own KMS key: the roles that read the platform assets may decrypt them."""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk.assertions import Match, Template

from stacks.components.platform_assets import PlatformAssets
from stacks.config import ConfigError, load_config
from tests.cfn_template_world import TemplateWorld
from tests.iam_policy_evaluation import Request, evaluate
from tests.synthesis_fixtures import BOOTSTRAP_KMS_KEY_ARN, GITHUB_CONNECTION, SynthesizedApp, variant_synthesis
from tests.synthesized_roles import ACCOUNT, pipeline_world

KEY = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def test_the_key_is_optional_and_validated_as_a_kms_key_arn() -> None:
    assert load_config({}).bootstrap_kms_key_arn is None
    assert load_config({"ml-cicd": {"bootstrap_kms_key_arn": KEY}}).bootstrap_kms_key_arn == KEY
    mrk = "arn:aws:kms:eu-west-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab"
    assert load_config({"ml-cicd.bootstrap_kms_key_arn": mrk}).bootstrap_kms_key_arn == mrk


@pytest.mark.parametrize(
    "bad", ["alias/cdk", "arn:aws:kms:eu-west-1:111122223333:alias/cdk", "1234abcd-12ab-34cd-56ef-1234567890ab", 42]
)
def test_anything_else_is_one_line_naming_the_key(bad: object) -> None:
    with pytest.raises(ConfigError) as error:
        load_config({"ml-cicd": {"bootstrap_kms_key_arn": bad}})
    message = str(error.value)
    assert "\n" not in message and message.startswith("invalid configuration ml-cicd.bootstrap_kms_key_arn:")
    assert "KMS key ARN" in message


def _reader_policy(tmp_path: Path, key: str | None) -> tuple[TemplateWorld, str]:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "staging.template.json").write_text("{}")
    app = cdk.App(context={"@aws-cdk/core:validationReportJson": False})
    stack = cdk.Stack(app, "Stack", env=cdk.Environment(account="111122223333", region="eu-west-1"))
    assets = PlatformAssets(stack, "Assets", endpoint_templates_dir=tmp_path / "templates", bootstrap_kms_key_arn=key)
    role = iam.Role(stack, "Reader", assumed_by=iam.ServicePrincipal("codebuild.amazonaws.com"))
    assets.grant_read(role)
    template = Template.from_stack(stack)
    if key:
        template.has_resource_properties(
            "AWS::IAM::Policy",
            {
                "PolicyDocument": {
                    "Statement": Match.array_with(
                        [Match.object_like({"Sid": "DecryptPlatformAssets", "Action": "kms:Decrypt", "Resource": key})]
                    )
                }
            },
        )
    return TemplateWorld(template.to_json()), stack.resolve(stack.get_logical_id(role.node.default_child))


def test_readers_may_decrypt_with_the_bootstrap_key_only_through_s3(tmp_path: Path) -> None:
    world, role = _reader_policy(tmp_path, KEY)
    statements = world.role_statements(role)
    via_s3 = Request("kms:Decrypt", KEY, {"kms:ViaService": "s3.eu-west-1.amazonaws.com"})
    assert evaluate(statements, via_s3).allowed
    assert not evaluate(statements, Request("kms:Decrypt", KEY, {})).allowed  # called directly, not through S3
    other_key = KEY.replace("1234abcd-", "99999999-")
    assert not evaluate(statements, Request("kms:Decrypt", other_key, via_s3.context)).allowed


def test_without_the_setting_no_key_is_granted(tmp_path: Path) -> None:
    world, role = _reader_policy(tmp_path, None)
    assert not [s for s in world.role_statements(role) if "kms:Decrypt" in str(s["Action"])]


def test_every_build_of_the_pipeline_stack_that_fetches_the_platform_tools_may_decrypt_them(
    pytestconfig: pytest.Config,
) -> None:
    """On the synthesized pipeline stack (not a standalone construct): each CodeBuild project given the tools'
    S3 URL runs with a role that may get it and decrypt it with the bootstrap key, through S3 only."""
    synthesized: SynthesizedApp = variant_synthesis(pytestconfig, GITHUB_CONNECTION)
    world = pipeline_world(synthesized.pipeline)
    builds = {
        logical_id: resource
        for logical_id, resource in synthesized.pipeline["Resources"].items()
        if resource["Type"] == "AWS::CodeBuild::Project"
        and any(
            e["Name"] == "PLATFORM_TOOLS_S3_URI" for e in resource["Properties"]["Environment"].get("EnvironmentVariables", [])
        )
    }
    assert any(k.startswith("TrainProject") for k in builds) and len(builds) >= 3
    via_s3 = {"kms:ViaService": f"s3.{ACCOUNT.region}.{ACCOUNT.url_suffix}"}
    for logical_id, build in builds.items():
        (tools,) = [
            e["Value"] for e in build["Properties"]["Environment"]["EnvironmentVariables"] if e["Name"] == "PLATFORM_TOOLS_S3_URI"
        ]
        bucket, key = str(world.resolve(tools)).removeprefix("s3://").split("/", 1)
        statements = world.role_statements(world.role_of(logical_id))
        assert evaluate(statements, Request("s3:GetObject", f"arn:aws:s3:::{bucket}/{key}", {})).allowed, logical_id
        assert evaluate(statements, Request("kms:Decrypt", BOOTSTRAP_KMS_KEY_ARN, via_s3)).allowed, logical_id
        assert not evaluate(statements, Request("kms:Decrypt", BOOTSTRAP_KMS_KEY_ARN, {})).allowed, logical_id
