"""Issue 19: a redeploy over a teardown's kept buckets: the new SageMaker roles can read the adopted champion.

The registry `make adopt` brings back still names models in the old release
bucket, encrypted with the old key. The roles that read them (the evaluation
job's, which is the Train stage's `SAGEMAKER_ROLE_ARN`, and the role production
serves with, for a rollback) are evaluated on the synthesized policies: with
`retained_release_stores` they may list, get and decrypt through S3, nothing
more; without it they may not read the old bucket at all.
"""

from __future__ import annotations

from typing import Any

import pytest

from stacks.config import ConfigError, RetainedReleaseStore, load_config
from tests.iam_policy_evaluation import Request, evaluate
from tests.synthesis_fixtures import GITHUB_CONNECTION, RETAINED_RELEASE_STORE, SynthesizedApp, variant_synthesis
from tests.synthesized_roles import ACCOUNT, pipeline_world

BUCKET = RETAINED_RELEASE_STORE["bucket"]
KEY = RETAINED_RELEASE_STORE["kms_key_arn"]
CHAMPION_OBJECT = f"arn:aws:s3:::{BUCKET}/releases/3f2c9e1/train/output/model.tar.gz"
VIA_S3 = {"kms:ViaService": f"s3.{ACCOUNT.region}.{ACCOUNT.url_suffix}"}


@pytest.fixture(scope="module")
def redeployed(pytestconfig: pytest.Config) -> SynthesizedApp:
    return variant_synthesis(pytestconfig, GITHUB_CONNECTION)


def _role_after(parts: list[Any], marker: str) -> str:
    """The role whose `Fn::GetAtt` follows the string part ending with `marker` in an `Fn::Join`."""
    for before, after in zip(parts, parts[1:], strict=False):
        if isinstance(before, str) and before.endswith(marker) and isinstance(after, dict) and "Fn::GetAtt" in after:
            return str(after["Fn::GetAtt"][0])
    raise AssertionError(f"no role after {marker!r}")


def model_reading_roles(pipeline: dict[str, Any]) -> dict[str, str]:
    """The role the evaluation job runs with and the role production serves with, by logical ID."""
    resources = pipeline["Resources"]
    (train,) = [r for k, r in resources.items() if r["Type"] == "AWS::CodeBuild::Project" and k.startswith("TrainProject")]
    (job_role,) = [
        e["Value"]["Fn::GetAtt"][0]
        for e in train["Properties"]["Environment"]["EnvironmentVariables"]
        if e["Name"] == "SAGEMAKER_ROLE_ARN"
    ]
    (pipeline_resource,) = [r for r in resources.values() if r["Type"] == "AWS::CodePipeline::Pipeline"]
    (production,) = [
        a["Configuration"]["ParameterOverrides"]["Fn::Join"][1]
        for stage in pipeline_resource["Properties"]["Stages"]
        for a in stage["Actions"]
        if a["ActionTypeId"]["Provider"] == "CloudFormation" and "production" in a["Configuration"]["StackName"]
    ]
    return {"evaluation job": job_role, "production serving": _role_after(production, '"ExecutionRoleArn":"')}


def test_the_setting_is_a_validated_list_of_bucket_and_key() -> None:
    assert load_config({}).retained_release_stores == ()
    config = load_config({"ml-cicd": {"retained_release_stores": [RETAINED_RELEASE_STORE]}})
    assert config.retained_release_stores == (RetainedReleaseStore(bucket=BUCKET, kms_key_arn=KEY),)


@pytest.mark.parametrize(
    ("bad", "names"),
    [
        ({"bucket": BUCKET}, "retained_release_stores:"),
        ([{"bucket": BUCKET}], "retained_release_stores.0:"),
        ([{"bucket": "Not_A_Bucket", "kms_key_arn": KEY}], "retained_release_stores.0.bucket:"),
        ([{"bucket": BUCKET, "kms_key_arn": "alias/old"}], "retained_release_stores.0.kms_key_arn:"),
        ([{"bucket": BUCKET, "kms_key_arn": KEY, "prefix": "x"}], "retained_release_stores.0.prefix:"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_key(bad: object, names: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_config({"ml-cicd": {"retained_release_stores": bad}})
    assert "\n" not in str(error.value) and str(error.value).startswith(f"invalid configuration ml-cicd.{names}")


@pytest.mark.parametrize("use", ["evaluation job", "production serving"])
def test_the_roles_that_read_models_can_read_the_kept_champion(redeployed: SynthesizedApp, use: str) -> None:
    world = pipeline_world(redeployed.pipeline)
    statements = world.role_statements(model_reading_roles(redeployed.pipeline)[use])
    assert evaluate(statements, Request("s3:ListBucket", f"arn:aws:s3:::{BUCKET}", {})).allowed  # S3Prefix input
    assert evaluate(statements, Request("s3:GetObject", CHAMPION_OBJECT, {})).allowed
    assert evaluate(statements, Request("kms:Decrypt", KEY, VIA_S3)).allowed
    # Read only, and the key only through S3.
    for action in ("s3:PutObject", "s3:DeleteObject"):
        assert not evaluate(statements, Request(action, CHAMPION_OBJECT, {})).allowed
    assert not evaluate(statements, Request("kms:Decrypt", KEY, {})).allowed
    assert not evaluate(statements, Request("kms:Encrypt", KEY, VIA_S3)).allowed


def test_without_the_setting_the_kept_bucket_is_unreadable(synthesized: SynthesizedApp) -> None:
    """What the audit found: the default app's roles cannot read a kept bucket (the evaluation job would fail)."""
    world = pipeline_world(synthesized.pipeline)
    for role in model_reading_roles(synthesized.pipeline).values():
        statements = world.role_statements(role)
        assert not evaluate(statements, Request("s3:GetObject", CHAMPION_OBJECT, {})).allowed
        assert not evaluate(statements, Request("kms:Decrypt", KEY, VIA_S3)).allowed


def test_the_kept_bucket_is_acknowledged_narrowly_and_nag_passes(redeployed: SynthesizedApp) -> None:
    assert redeployed.nag_error is None
    statements = [
        s
        for r in redeployed.pipeline["Resources"].values()
        if r["Type"] == "AWS::IAM::Policy"
        for s in r["Properties"]["PolicyDocument"]["Statement"]
        if str(s.get("Sid", "")).endswith("RetainedReleaseStores")
    ]
    assert {s["Sid"] for s in statements} == {
        "ListRetainedReleaseStores",
        "ReadRetainedReleaseStores",
        "DecryptRetainedReleaseStores",
    }
    assert all("*" not in s["Action"] for s in statements)
