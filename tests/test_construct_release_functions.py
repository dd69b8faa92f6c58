"""The evaluation gate, the staging gate and the promotion, each in a bare stack with explicit props."""

from __future__ import annotations

import json

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Match, Template

from stacks.components.image_repository import ImageRepository, ImageRepositoryProps
from stacks.components.release_functions import (
    EvaluationGate,
    Promotion,
    PromotionProps,
    ReleaseFunctionProps,
    StagingGate,
    StagingGateProps,
)
from tests.construct_fixtures import actions_of, bare_stack, policy_of, project_resources, statement

FLOORS = json.dumps({"version": 1, "metrics": {"f1": {"min": 0.7}}})


def _shared(stack: cdk.Stack) -> ReleaseFunctionProps:
    r = project_resources(stack, project_name="fraud")
    return ReleaseFunctionProps(
        project_name="fraud",
        log_retention=r.retention,
        encryption_key=r.store.key,
        artifact_bucket=r.store.bucket,
        release_store=r.release,
        registry=r.registry,
        platform_floors_json=FLOORS,
    )


@pytest.fixture(scope="module")
def built() -> tuple[cdk.Stack, Template, EvaluationGate, StagingGate, Promotion]:
    stack = bare_stack()
    shared = _shared(stack)
    images = ImageRepository(
        stack,
        "ModelImage",
        props=ImageRepositoryProps(project_name="fraud", encryption_key=shared.encryption_key, keep_release_images=5),
    )
    evaluation = EvaluationGate(stack, "EvaluationGate", props=shared)
    staging = StagingGate(
        stack,
        "StagingGate",
        props=StagingGateProps(**vars(shared), endpoint_stack_name="fraud-stg", timeout_seconds=420, probe_json='{"x": 1}'),
    )
    promote = Promotion(
        stack, "Promote", props=PromotionProps(**vars(shared), endpoint_stack_name="fraud-prd", image_repository=images)
    )
    return stack, Template.from_stack(stack), evaluation, staging, promote


def test_each_function_gets_its_folder_and_its_configuration(built) -> None:  # type: ignore[no-untyped-def]
    _, template, *_ = built
    template.resource_count_is("AWS::Lambda::Function", 3)
    for handler, variables in (
        ("evaluation_gate.handler.handler", {"PLATFORM_FLOORS": FLOORS, "RECORD_PREFIX": "decision-records/"}),
        ("staging_gate.handler.handler", {"PLATFORM_FLOORS": FLOORS, "STAGING_PROBE": '{"x": 1}'}),
        ("promote.handler.handler", {"RECORD_PREFIX": "decision-records/"}),
    ):
        template.has_resource_properties(
            "AWS::Lambda::Function",
            {"Handler": handler, "Environment": {"Variables": Match.object_like(variables)}},
        )
    template.has_resource_properties("AWS::Lambda::Function", {"Handler": "staging_gate.handler.handler", "Timeout": 420})


def test_promotion_knows_the_registry_group_and_the_image_repository(built) -> None:  # type: ignore[no-untyped-def]
    _, template, *_ = built
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "promote.handler.handler",
            "Environment": {
                "Variables": Match.object_like(
                    {"MODEL_PACKAGE_GROUP_NAME": "fraud-models", "MODEL_IMAGE_REPOSITORY_NAME": Match.any_value()}
                )
            },
        },
    )


def test_every_function_reads_the_artifacts_and_puts_records_under_one_prefix_only(built) -> None:  # type: ignore[no-untyped-def]
    stack, template, *functions = built
    for function in functions:
        statements = policy_of(template, stack, function.role)
        puts = [s for s in statements if "s3:PutObject" in s["Action"]]
        assert len(puts) == 1 and json.dumps(puts[0]["Resource"]).endswith('"/decision-records/*"]]}'), puts
        assert not any("s3:DeleteObject" in action for action in actions_of(statements))


def test_each_function_gets_only_its_own_sagemaker_permissions(built) -> None:  # type: ignore[no-untyped-def]
    stack, template, evaluation, staging, promote = built
    sagemaker = {
        name: {a for a in actions_of(policy_of(template, stack, f.role)) if a.startswith("sagemaker:")}
        for name, f in (("evaluation", evaluation), ("staging", staging), ("promote", promote))
    }
    assert sagemaker["evaluation"] == {"sagemaker:UpdateModelPackage", "sagemaker:DescribeModelPackage"}
    assert "sagemaker:InvokeEndpoint" in sagemaker["staging"] and "sagemaker:UpdateModelPackage" not in sagemaker["staging"]
    assert "sagemaker:InvokeEndpoint" not in sagemaker["promote"] and "sagemaker:ListModelPackages" in sagemaker["promote"]


def test_the_endpoint_permissions_name_the_endpoint_of_the_stack_given(built) -> None:  # type: ignore[no-untyped-def]
    stack, template, _, staging, promote = built
    for function, sid, stack_name in (
        (staging, "TestStagingEndpoint", "fraud-stg"),
        (promote, "VerifyProductionEndpoint", "fraud-prd"),
    ):
        resources = [json.dumps(r) for r in statement(policy_of(template, stack, function.role), sid)["Resource"]]
        endpoints = [r for r in resources if ":endpoint/" in r]
        assert len(endpoints) == 1 and endpoints[0].endswith(f':endpoint/{stack_name}"]]}}'), resources


def test_only_the_promotion_tags_the_champion_image(built) -> None:  # type: ignore[no-untyped-def]
    stack, template, evaluation, staging, promote = built
    assert statement(policy_of(template, stack, promote.role), "TagTheChampionImage")["Action"] == [
        "ecr:BatchGetImage",
        "ecr:PutImage",
    ]
    for function in (evaluation, staging):
        assert not any(a.startswith("ecr:") for a in actions_of(policy_of(template, stack, function.role)))
