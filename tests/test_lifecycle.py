"""Teardown and redeploy (`make destroy`, `make deploy`'s preflight, `make adopt`) against stubbed AWS clients.

Every call goes through botocore's Stubber, so operation names and parameters
are checked against the service models; the template is the real synthesized one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from scripts.lifecycle import Clients, LifecycleError, adoption_mapping, kept_resources, main, preflight, teardown
from tests.synthesis_fixtures import ROOT, SynthesizedApp

STACK_ID = "arn:aws:cloudformation:eu-west-1:111122223333:stack/{}/guid"
REPO_ID = "1b2c3d4e-aaaa-bbbb-cccc-0123456789ab"
GROUP_ARN = "arn:aws:sagemaker:eu-west-1:111122223333:model-package-group/ml-cicd-models"


def client(service: str) -> Any:
    return boto3.client(service, region_name="eu-west-1", aws_access_key_id="t", aws_secret_access_key="t")


@pytest.fixture
def aws() -> Iterator[tuple[Clients, dict[str, Stubber]]]:
    clients = Clients(client("cloudformation"), client("codecommit"), client("sagemaker"))
    stubbers = {name: Stubber(getattr(clients, name)) for name in ("cloudformation", "codecommit", "sagemaker")}
    for stubber in stubbers.values():
        stubber.activate()
    yield clients, stubbers
    for stubber in stubbers.values():
        stubber.assert_no_pending_responses()
        stubber.deactivate()


def stack(stubber: Stubber, name: str, status: str | None) -> None:
    if status is None:
        stubber.add_client_error(
            "describe_stacks",
            service_error_code="ValidationError",
            service_message=f"Stack with id {name} does not exist",
            http_status_code=400,
            expected_params={"StackName": name},
        )
    else:
        stubber.add_response(
            "describe_stacks",
            {
                "Stacks": [
                    {
                        "StackName": name,
                        "StackId": STACK_ID.format(name),
                        "StackStatus": status,
                        "CreationTime": "2026-11-01T00:00:00Z",
                    }
                ]
            },
            {"StackName": name},
        )


def fixed_names(synthesized: SynthesizedApp) -> tuple[str, str]:
    resources = synthesized.pipeline["Resources"]
    (repository,) = [k for k, r in resources.items() if r["Type"] == "AWS::CodeCommit::Repository"]
    (group,) = [k for k, r in resources.items() if r["Type"] == "AWS::SageMaker::ModelPackageGroup"]
    return repository, group


def test_the_stateful_resources_are_the_ones_kept(synthesized: SynthesizedApp) -> None:
    kinds = set(kept_resources(synthesized.pipeline).values())
    assert {
        "AWS::CodeCommit::Repository",
        "AWS::SageMaker::ModelPackageGroup",
        "AWS::S3::Bucket",
        "AWS::KMS::Key",
        "AWS::Logs::LogGroup",
    } <= kinds
    assert "AWS::Lambda::Function" not in kinds and "AWS::CodePipeline::Pipeline" not in kinds


def test_teardown_deletes_production_then_staging_then_lists_what_is_kept(aws, synthesized: SynthesizedApp) -> None:
    clients, stub = aws
    cloudformation = stub["cloudformation"]
    for name in ("ml-cicd-production-endpoint", "ml-cicd-staging-endpoint"):
        stack(cloudformation, name, "UPDATE_COMPLETE")
        cloudformation.add_response("delete_stack", {}, {"StackName": name})
        stack(cloudformation, name, "DELETE_COMPLETE")  # the waiter's first poll
    stack(cloudformation, "ml-cicd-pipeline", "UPDATE_COMPLETE")
    repository, group = fixed_names(synthesized)
    cloudformation.add_response(
        "describe_stack_resources",
        {
            "StackResources": [
                {
                    "LogicalResourceId": repository,
                    "PhysicalResourceId": "ml-model",
                    "ResourceType": "AWS::CodeCommit::Repository",
                    "Timestamp": "2026-11-01T00:00:00Z",
                    "ResourceStatus": "CREATE_COMPLETE",
                },
                {
                    "LogicalResourceId": group,
                    "PhysicalResourceId": "ml-cicd-models",
                    "ResourceType": "AWS::SageMaker::ModelPackageGroup",
                    "Timestamp": "2026-11-01T00:00:00Z",
                    "ResourceStatus": "CREATE_COMPLETE",
                },
            ]
        },
        {"StackName": "ml-cicd-pipeline"},
    )
    said: list[str] = []
    teardown(clients, project_name="ml-cicd", template=synthesized.pipeline, say=said.append)
    assert said[0].startswith("teardown: deleting ml-cicd-production-endpoint")
    assert said[1].startswith("teardown: deleting ml-cicd-staging-endpoint")
    assert "  kept: AWS::CodeCommit::Repository ml-model" in said
    assert "  kept: AWS::SageMaker::ModelPackageGroup ml-cicd-models" in said


def test_teardown_of_endpoints_never_deployed_goes_on(aws, synthesized: SynthesizedApp) -> None:
    clients, stub = aws
    for name in ("ml-cicd-production-endpoint", "ml-cicd-staging-endpoint", "ml-cicd-pipeline"):
        stack(stub["cloudformation"], name, None)
    said: list[str] = []
    teardown(clients, project_name="ml-cicd", template=synthesized.pipeline, say=said.append)
    assert said == [
        "teardown: ml-cicd-production-endpoint: not deployed",
        "teardown: ml-cicd-staging-endpoint: not deployed",
        "teardown: ml-cicd-pipeline: not deployed",
    ]


def expect_kept(stub: dict[str, Stubber], *, repository: bool, group: bool) -> None:
    if repository:
        stub["codecommit"].add_response(
            "get_repository",
            {"repositoryMetadata": {"repositoryName": "ml-model", "repositoryId": REPO_ID}},
            {"repositoryName": "ml-model"},
        )
    else:
        stub["codecommit"].add_client_error(
            "get_repository", service_error_code="RepositoryDoesNotExistException", http_status_code=400
        )
    if group:
        stub["sagemaker"].add_response(
            "describe_model_package_group",
            {
                "ModelPackageGroupName": "ml-cicd-models",
                "ModelPackageGroupArn": GROUP_ARN,
                "CreationTime": "2026-11-01T00:00:00Z",
                "CreatedBy": {},
                "ModelPackageGroupStatus": "Completed",
            },
            {"ModelPackageGroupName": "ml-cicd-models"},
        )
    else:
        stub["sagemaker"].add_client_error(
            "describe_model_package_group", service_error_code="ValidationException", http_status_code=400
        )


def test_a_first_deploy_over_kept_resources_is_refused_with_one_line(aws, synthesized: SynthesizedApp) -> None:
    clients, stub = aws
    stack(stub["cloudformation"], "ml-cicd-pipeline", None)
    expect_kept(stub, repository=True, group=True)
    with pytest.raises(LifecycleError) as refused:
        preflight(clients, project_name="ml-cicd", template=synthesized.pipeline)
    message = str(refused.value)
    assert "\n" not in message and "make adopt" in message
    assert "Repository ml-model" in message and "ModelPackageGroup ml-cicd-models" in message


def test_a_clean_account_or_an_existing_stack_passes_the_preflight(aws, synthesized: SynthesizedApp) -> None:
    clients, stub = aws
    stack(stub["cloudformation"], "ml-cicd-pipeline", "UPDATE_COMPLETE")
    preflight(clients, project_name="ml-cicd", template=synthesized.pipeline)
    stack(stub["cloudformation"], "ml-cicd-pipeline", None)
    expect_kept(stub, repository=False, group=False)
    preflight(clients, project_name="ml-cicd", template=synthesized.pipeline)


def test_the_adoption_mapping_names_the_registry_schemas_identifiers(aws, synthesized: SynthesizedApp) -> None:
    clients, stub = aws
    expect_kept(stub, repository=True, group=True)
    repository, group = fixed_names(synthesized)
    assert adoption_mapping(clients, synthesized.pipeline) == {
        repository: {"RepositoryId": REPO_ID},
        group: {"ModelPackageGroupArn": GROUP_ARN},
    }


def test_the_import_identifiers_are_the_registry_schemas_primary_identifiers() -> None:
    """cdk import needs each type's primary identifier, as the CloudFormation registry schema states it."""
    import cfnlint

    schemas = Path(cfnlint.__file__).parent / "data" / "schemas"
    providers = json.loads((schemas / "providers" / "us-east-1.json").read_text())
    for kind, identifier in (
        ("AWS::CodeCommit::Repository", "RepositoryId"),
        ("AWS::SageMaker::ModelPackageGroup", "ModelPackageGroupArn"),
    ):
        schema = json.loads((schemas / "resources" / f"{providers[kind]}.json").read_text())
        assert schema["primaryIdentifier"] == [f"/properties/{identifier}"]


def test_the_command_line_refuses_an_unconfirmed_teardown_and_a_missing_synthesis(tmp_path, capsys) -> None:
    assert main(["preflight", "--cdk-out", str(tmp_path)], clients=object()) == 2  # type: ignore[arg-type]
    assert capsys.readouterr().err.startswith("error: ")
    assert main(["teardown", "--cdk-json", str(ROOT / "cdk.json"), "--cdk-out", str(tmp_path / "none")], clients=object()) == 2  # type: ignore[arg-type]


def test_make_destroy_deletes_the_endpoint_stacks_before_the_pipeline_stack() -> None:
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("\ndestroy:")[1].split("\n\n")[0]
    assert recipe.index("scripts.lifecycle teardown") < recipe.index("destroy --all")
    deploy = makefile.split("\ndeploy:")[1].split("\n\n")[0]
    assert deploy.index("scripts.lifecycle preflight") < deploy.index("deploy --all")
