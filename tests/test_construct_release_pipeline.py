"""The release pipeline construct in a bare stack, wired to stand-in projects, functions and roles."""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_codecommit as codecommit
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Match, Template

from stacks.components.release_pipeline import STAGE_NAMES, ReleasePipeline, ReleasePipelineProps
from tests.construct_fixtures import bare_stack, policy_of, project_resources


def _pipeline(**changes: Any) -> tuple[cdk.Stack, Template, dict[str, codebuild.PipelineProject]]:
    stack = bare_stack()
    r = project_resources(stack)

    def project(name: str) -> codebuild.PipelineProject:
        return codebuild.PipelineProject(stack, name, encryption_key=r.store.key)

    def function(name: str) -> lambda_.Function:
        return lambda_.Function(
            stack, name, runtime=lambda_.Runtime.PYTHON_3_13, handler="index.handler", code=lambda_.Code.from_inline("x=1")
        )

    projects = {name: project(name) for name in ("Ci", "Image", "Train")}
    props: dict[str, Any] = dict(
        project_name="fraud",
        repository=codecommit.Repository(stack, "Repository", repository_name="fraud-model"),
        connection=None,
        release_branch="release",
        artifact_bucket=r.store.bucket,
        build_project=projects["Ci"],
        image_project=projects["Image"],
        train_project=projects["Train"],
        evaluation_gate=function("Evaluation"),
        staging_gate=function("Staging"),
        promote_function=function("Promote"),
        endpoint_deploy_role=iam.Role(stack, "Deploy", assumed_by=iam.ServicePrincipal("cloudformation.amazonaws.com")),
        endpoint_parameters={"Project": "fraud"},
        production_data_capture_uri="s3://bucket/data-capture/production",
        staging_stack_name="fraud-stg",
        production_stack_name="fraud-prd",
        require_manual_approval=True,
        approval_topic=sns.Topic(stack, "Topic"),
        deployment_window=None,
        deployment_window_time_zone="UTC",
    )
    ReleasePipeline(stack, "ReleasePipeline", props=ReleasePipelineProps(**{**props, **changes}))
    return stack, Template.from_stack(stack), projects


@pytest.fixture(scope="module")
def default() -> tuple[cdk.Stack, Template, dict[str, codebuild.PipelineProject]]:
    """The pipeline with the props above, synthesized once for the tests that change none."""
    return _pipeline()


def _stages(template: Template) -> list[dict[str, Any]]:
    (pipeline,) = template.find_resources("AWS::CodePipeline::Pipeline").values()
    return list(pipeline["Properties"]["Stages"])


@pytest.mark.parametrize("approval", [True, False])
def test_the_approval_stage_is_there_exactly_when_asked_for(approval: bool, default: tuple[cdk.Stack, Template, Any]) -> None:
    _, template, _ = default if approval else _pipeline(require_manual_approval=False)
    names = [stage["Name"] for stage in _stages(template)]
    assert names == [name for name in STAGE_NAMES if approval or name != "Approve"]


def test_the_source_is_the_release_branch_given(default: tuple[cdk.Stack, Template, Any]) -> None:
    _, template, _ = default
    source = _stages(template)[0]["Actions"][0]
    assert source["Configuration"]["BranchName"] == "release"


def test_the_deployment_window_is_an_entry_condition_of_the_production_stage_only() -> None:
    _, template, _ = _pipeline(deployment_window="* * 9-16 ? * MON-THU *", deployment_window_time_zone="Europe/Paris")
    stages = {stage["Name"]: stage for stage in _stages(template)}
    rule = stages["DeployProd"]["BeforeEntry"]["Conditions"][0]["Rules"][0]
    assert rule["RuleTypeId"]["Provider"] == "DeploymentWindow"
    assert rule["Configuration"] == {"Cron": "* * 9-16 ? * MON-THU *", "TimeZone": "Europe/Paris"}
    assert [name for name, stage in stages.items() if "BeforeEntry" in stage] == ["DeployProd"]


def test_staging_is_replaced_on_failure_and_production_never(default: tuple[cdk.Stack, Template, Any]) -> None:
    _, template, _ = default
    template.has_resource_properties(
        "AWS::CodePipeline::Pipeline",
        {
            "Stages": Match.array_with(
                [
                    Match.object_like(
                        {
                            "Name": "DeployStaging",
                            "Actions": Match.array_with(
                                [
                                    Match.object_like(
                                        {
                                            "Configuration": Match.object_like(
                                                {"ActionMode": "REPLACE_ON_FAILURE", "StackName": "fraud-stg"}
                                            )
                                        }
                                    )
                                ]
                            ),
                        }
                    ),
                    Match.object_like(
                        {
                            "Name": "DeployProd",
                            "Actions": Match.array_with(
                                [
                                    Match.object_like(
                                        {
                                            "Configuration": Match.object_like(
                                                {"ActionMode": "CREATE_UPDATE", "StackName": "fraud-prd"}
                                            )
                                        }
                                    )
                                ]
                            ),
                        }
                    ),
                ]
            )
        },
    )


def test_the_build_stage_projects_put_their_own_output_artifact_only(
    default: tuple[cdk.Stack, Template, dict[str, codebuild.PipelineProject]],
) -> None:
    stack, template, projects = default
    for name, artifact in (("Ci", "BuildOutpu"), ("Image", "ImageOutpu")):
        statements = policy_of(template, stack, projects[name].role)
        puts = [json.dumps(s["Resource"]) for s in statements if "s3:PutObject" in s["Action"]]
        assert len(puts) == 1 and puts[0].endswith(f'"/*/{artifact}/*"]]}}'), puts
        assert not any("s3:DeleteObject*" in s["Action"] for s in statements)
