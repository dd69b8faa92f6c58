"""SageMaker instance types: the checked-in table is botocore's, unknown types are refused at synth,
and local-storage (NVMe) types never get a KMS volume key (training, evaluation, endpoints)."""

from __future__ import annotations

import json
import re

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from release_tools.errors import ReleaseToolError
from release_tools.evaluation_job import EvaluationRun, evaluation_job_request
from release_tools.instance_types import (
    LOCAL_STORAGE_FAMILIES,
    TABLE_PATH,
    USES,
    family,
    has_local_storage,
    instance_types,
)
from release_tools.release_layout import ReleaseLayout
from release_tools.training_job import TrainingRun, training_job_request
from scripts.sagemaker_instance_types import render, table_from_botocore
from stacks.config import ConfigError, load_config
from stacks.endpoint_stack import EndpointStack
from stacks.endpoint_templates import endpoint_props
from tests.release_tools_fixtures import KMS_KEY_ARN, settings

# Families named with the "d" (local NVMe disk) attribute after the generation digit: m5d, c6gd, p4de, g4dn...
_D_FAMILY = re.compile(r"^[a-z]+[0-9]+[a-z]*d[a-z]*$")


def test_the_checked_in_table_equals_the_installed_botocore_enums() -> None:
    checked_in = json.loads(TABLE_PATH.read_text(encoding="utf-8"))
    fresh = table_from_botocore()
    assert checked_in["enums"] == fresh["enums"], "run: python -m scripts.sagemaker_instance_types"
    assert checked_in["source"].startswith("botocore ")
    assert json.loads(render(fresh))["enums"] == fresh["enums"]


def test_every_local_storage_family_exists_and_every_d_family_is_listed() -> None:
    families = {family(t) for use in USES for t in instance_types(use)}
    assert LOCAL_STORAGE_FAMILIES <= families, LOCAL_STORAGE_FAMILIES - families
    assert {f for f in families if _D_FAMILY.match(f)} <= LOCAL_STORAGE_FAMILIES
    assert has_local_storage("ml.g4dn.xlarge") and not has_local_storage("ml.m5.large")


@pytest.mark.parametrize(("overrides", "key"), [
    ({"training_instance_type": "ml.zz99.xlarge"}, "training_instance_type"),
    ({"evaluation_instance_type": "ml.zz99.xlarge"}, "evaluation_instance_type"),
    ({"staging": {"mode": "instances", "instance_type": "ml.zz99.xlarge"}}, "staging.instance_type"),
    ({"production": {"instance_type": "ml.zz99.xlarge"}}, "production.instance_type"),
    # Known types, wrong use: processing has no g6, hosting has no p3dn.
    ({"evaluation_instance_type": "ml.g6.xlarge"}, "evaluation_instance_type"),
    ({"production": {"instance_type": "ml.p3dn.24xlarge"}}, "production.instance_type"),
])  # fmt: skip
def test_unknown_instance_types_are_refused_per_use_in_one_line(overrides: dict, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config({"ml-cicd": overrides})
    message = str(caught.value)
    assert "\n" not in message and f"ml-cicd.{key}:" in message
    assert "is not a SageMaker" in message and "sagemaker_instance_types.json" in message


def test_a_very_long_type_is_quoted_shortened() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config({"ml-cicd": {"training_instance_type": "ml." + "z" * 5000 + ".xlarge"}})
    assert len(str(caught.value)) < 400


def test_known_types_pass_for_their_use() -> None:
    config = load_config({"ml-cicd": {"training_instance_type": "ml.g6.xlarge", "evaluation_instance_type": "ml.r5d.large",
                                      "production": {"instance_type": "ml.g4dn.xlarge"}}})  # fmt: skip
    assert (config.training_instance_type, config.production.instance_type) == ("ml.g6.xlarge", "ml.g4dn.xlarge")


def test_train_stage_settings_refuse_an_unknown_type() -> None:
    with pytest.raises(ReleaseToolError, match=r"TRAINING_INSTANCE_TYPE='ml.zz99.xlarge' is not a SageMaker training"):
        settings(TRAINING_INSTANCE_TYPE="ml.zz99.xlarge")


def _requests(training: str, evaluation: str) -> tuple[dict, dict]:
    s = settings(TRAINING_INSTANCE_TYPE=training, EVALUATION_INSTANCE_TYPE=evaluation)
    layout = ReleaseLayout("artifacts", "ml-cicd-3f2c9e1a-20261128120000")
    train = training_job_request(s, TrainingRun(layout=layout, image_uri="img", source_revision="r", hyperparameters={}))
    evaluate = evaluation_job_request(s, EvaluationRun(layout=layout, image_uri="img", source_revision="r",
                                                       model_data_url="s3://a/m.tar.gz", champion=None))  # fmt: skip
    return train["ResourceConfig"], evaluate["ProcessingResources"]["ClusterConfig"]


def test_volume_key_is_sent_for_ebs_types() -> None:
    train, evaluate = _requests("ml.m5.large", "ml.m5.large")
    assert train["VolumeKmsKeyId"] == KMS_KEY_ARN and evaluate["VolumeKmsKeyId"] == KMS_KEY_ARN


def test_volume_key_is_left_out_for_local_storage_types() -> None:
    train, evaluate = _requests("ml.g4dn.xlarge", "ml.r5d.large")
    assert "VolumeKmsKeyId" not in train and "VolumeKmsKeyId" not in evaluate


def test_endpoint_config_leaves_the_key_out_for_local_storage_types() -> None:
    config = load_config({"ml-cicd": {"production": {"instance_type": "ml.g4dn.xlarge"}}})
    app = cdk.App(context={"@aws-cdk/core:validationReportJson": False})
    props = endpoint_props(config)
    production_stack = EndpointStack(app, "Production", props=props["production"])
    staging_stack = EndpointStack(app, "Staging", props=props["staging"])
    production, staging = (Template.from_stack(stack).to_json() for stack in (production_stack, staging_stack))
    (prod_config,) = [r for r in production["Resources"].values() if r["Type"] == "AWS::SageMaker::EndpointConfig"]
    assert "KmsKeyId" not in prod_config["Properties"]
    assert [s["id"] for s in prod_config["Metadata"]["checkov"]["skip"]] == ["CKV_AWS_98"]
    # Data capture is S3 encryption, still with the key; serverless staging keeps its key.
    assert prod_config["Properties"]["DataCaptureConfig"]["KmsKeyId"] == {"Ref": "KmsKeyArn"}
    (staging_config,) = [r for r in staging["Resources"].values() if r["Type"] == "AWS::SageMaker::EndpointConfig"]
    assert staging_config["Properties"]["KmsKeyId"] == {"Ref": "KmsKeyArn"}


def test_an_unused_key_parameter_is_acknowledged_only_where_nothing_uses_it() -> None:
    """Staging on local-storage instances, no data capture: the pipeline still passes KmsKeyArn."""
    config = load_config({"ml-cicd": {"staging": {"mode": "instances", "instance_type": "ml.m5d.large"}}})
    app = cdk.App(context={"@aws-cdk/core:validationReportJson": False})
    staging = Template.from_stack(EndpointStack(app, "Staging", props=endpoint_props(config)["staging"])).to_json()
    assert "KmsKeyArn" in staging["Parameters"]
    assert staging["Metadata"]["cfn-lint"]["config"]["ignore_checks"] == ["W2001"]
    (endpoint_config,) = [r for r in staging["Resources"].values() if r["Type"] == "AWS::SageMaker::EndpointConfig"]
    assert "KmsKeyId" not in endpoint_config["Properties"]
