"""Teardown and redeploy (`make destroy`, `make deploy`'s preflight, `make adopt`) against stubbed AWS clients.

Every call goes through botocore's Stubber, so operation names and parameters
are checked against the service models; the template is the real synthesized one.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from scripts.lifecycle import (
    Clients,
    LifecycleError,
    adoption_mapping,
    kept_resources,
    main,
    preflight,
    refuse_unreadable_champion,
    teardown,
)
from stacks.config import RetainedReleaseStore, load_config
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


def does_not_exist(stubber: Stubber, operation: str, message: str, params: dict[str, str]) -> None:
    """CloudFormation's answer about a stack that does not exist: a ValidationError."""
    stubber.add_client_error(
        operation, service_error_code="ValidationError", service_message=message, http_status_code=400, expected_params=params
    )


def stack(stubber: Stubber, name: str, status: str | None) -> None:
    if status is None:
        does_not_exist(stubber, "describe_stacks", f"Stack with id {name} does not exist", {"StackName": name})
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
    cloudformation.add_response(
        "describe_stack_resources", {"StackResources": stack_resources(synthesized)}, {"StackName": "ml-cicd-pipeline"}
    )
    said: list[str] = []
    teardown(clients, project_name="ml-cicd", template=synthesized.pipeline, say=said.append)
    assert said[0].startswith("teardown: deleting ml-cicd-production-endpoint")
    assert said[1].startswith("teardown: deleting ml-cicd-staging-endpoint")
    assert "  kept: AWS::CodeCommit::Repository ml-model" in said
    assert "  kept: AWS::SageMaker::ModelPackageGroup ml-cicd-models" in said
    # Every kept resource is named, the release bucket and the model image repository included.
    kept = {kind for line in said if line.startswith("  kept: ") for kind in [line.split()[1]]}
    assert kept == set(kept_resources(synthesized.pipeline).values())
    # The redeploy's setting: the buckets that hold release data, each with the key that encrypts it.
    (setting_line,) = [line for line in said if "retained_release_stores" in line]
    setting = json.loads(setting_line.rsplit(" to ", 1)[1])
    key_arn = f"arn:aws:kms:eu-west-1:111122223333:key/{physical_id('AWS::KMS::Key', 'ArtifactStoreKey')}"
    assert setting == [
        {"bucket": physical_id("AWS::S3::Bucket", logical), "kms_key_arn": key_arn}
        for logical in sorted(release_buckets(synthesized))
    ]
    assert load_config({"ml-cicd": {"retained_release_stores": setting}}).retained_release_stores  # accepted as printed


def physical_id(kind: str, logical_id: str) -> str:
    """A physical ID as CloudFormation reports it (bucket names lowercase; a key's is its key ID)."""
    if kind == "AWS::KMS::Key":
        return "0a1b2c3d-4e5f-6789-abcd-" + hashlib.sha256(logical_id.encode()).hexdigest()[:12]
    if kind == "AWS::CodeCommit::Repository":
        return "ml-model"
    if kind == "AWS::SageMaker::ModelPackageGroup":
        return "ml-cicd-models"
    return f"ml-cicd-pipeline-{logical_id.lower()}-1a2b3c4d5e6f"[:63]


def release_buckets(synthesized: SynthesizedApp) -> list[str]:
    """The kept buckets encrypted with the project key (release data), by logical ID."""
    resources = synthesized.pipeline["Resources"]
    return [
        k
        for k, r in resources.items()
        if r["Type"] == "AWS::S3::Bucket" and "KMSMasterKeyID" in json.dumps(r["Properties"].get("BucketEncryption", {}))
    ]


def stack_resources(synthesized: SynthesizedApp) -> list[dict[str, Any]]:
    """DescribeStackResources' answer for the deployed pipeline stack: every kept resource."""
    (key,) = [k for k, r in synthesized.pipeline["Resources"].items() if r["Type"] == "AWS::KMS::Key"]
    return [
        {
            "StackName": "ml-cicd-pipeline",
            "StackId": STACK_ID.format("ml-cicd-pipeline"),
            "LogicalResourceId": logical_id,
            "PhysicalResourceId": physical_id(kind, "ArtifactStoreKey" if logical_id == key else logical_id),
            "ResourceType": kind,
            "Timestamp": "2026-11-01T00:00:00Z",
            "ResourceStatus": "CREATE_COMPLETE",
        }
        for logical_id, kind in kept_resources(synthesized.pipeline).items()
    ]


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


def owned_by(stub: dict[str, Stubber], physical: str, owner: str | None, status: str = "DELETE_COMPLETE") -> None:
    """DescribeStackResources by physical ID: no stack (`owner` None), or `owner` in `status`."""
    cloudformation = stub["cloudformation"]
    if owner is None:
        does_not_exist(
            cloudformation, "describe_stack_resources", f"Stack for {physical} does not exist", {"PhysicalResourceId": physical}
        )
        return
    stack_id = STACK_ID.format(owner)
    resource = {
        "StackName": owner,
        "StackId": stack_id,
        "LogicalResourceId": "Repository",
        "PhysicalResourceId": physical,
        "ResourceType": "AWS::CodeCommit::Repository",
        "Timestamp": "2026-11-01T00:00:00Z",
        "ResourceStatus": "DELETE_SKIPPED" if status == "DELETE_COMPLETE" else "CREATE_COMPLETE",
    }
    cloudformation.add_response("describe_stack_resources", {"StackResources": [resource]}, {"PhysicalResourceId": physical})
    cloudformation.add_response(
        "describe_stacks",
        {"Stacks": [{"StackName": owner, "StackId": stack_id, "StackStatus": status, "CreationTime": "2026-11-01T00:00:00Z"}]},
        {"StackName": stack_id},
    )


def test_a_first_deploy_over_kept_resources_is_refused_with_one_line(aws, synthesized: SynthesizedApp) -> None:
    clients, stub = aws
    stack(stub["cloudformation"], "ml-cicd-pipeline", None)
    expect_kept(stub, repository=True, group=True)
    repository, group = fixed_names(synthesized)
    owners = {repository: (REPO_ID, "ml-cicd-pipeline"), group: (GROUP_ARN, None)}  # kept by the deleted stack, none
    for logical_id in sorted(owners):
        owned_by(stub, *owners[logical_id])
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


def test_a_repository_of_a_live_stack_is_not_offered_for_adoption(aws, synthesized: SynthesizedApp) -> None:
    """A new project_name is a second platform, not a rename: the old stack still owns the repository."""
    clients, stub = aws
    stack(stub["cloudformation"], "ml-cicd-pipeline", None)
    expect_kept(stub, repository=True, group=False)
    owned_by(stub, REPO_ID, "fraud-pipeline", status="UPDATE_COMPLETE")
    with pytest.raises(LifecycleError) as refused:
        preflight(clients, project_name="ml-cicd", template=synthesized.pipeline)
    message = str(refused.value)
    assert "\n" not in message and "make adopt" not in message
    assert message.startswith("Repository ml-model belongs to the live stack fraud-pipeline") and "project_name" in message


CHAMPION_ARN = "arn:aws:sagemaker:eu-west-1:111122223333:model-package/ml-cicd-models/7"
OLD_BUCKET = "ml-cicd-pipeline-releasestorebucket229351e5-1a2b3c4d5e6f"


def expect_champion(stub: dict[str, Stubber], model_data_url: str | None) -> None:
    """The registry's latest Approved package (find_champion's two calls), or none."""
    sagemaker = stub["sagemaker"]
    listing = {"ModelPackageGroupName": "ml-cicd-models", "ModelApprovalStatus": "Approved"}
    summaries = [{"ModelPackageArn": CHAMPION_ARN, "CreationTime": "2026-11-01T00:00:00Z", "ModelPackageStatus": "Completed"}]
    sagemaker.add_response(
        "list_model_packages",
        {"ModelPackageSummaryList": summaries if model_data_url else []},
        {**listing, "SortBy": "CreationTime", "SortOrder": "Descending", "MaxResults": 1},
    )
    if model_data_url:
        sagemaker.add_response(
            "describe_model_package",
            {
                "ModelPackageName": "ml-cicd-models",
                "ModelPackageArn": CHAMPION_ARN,
                "CreationTime": "2026-11-01T00:00:00Z",
                "ModelPackageStatus": "Completed",
                "ModelPackageStatusDetails": {"ValidationStatuses": []},
                "InferenceSpecification": {
                    "Containers": [{"Image": "683313688378.dkr.ecr.eu-west-1.amazonaws.com/x:1", "ModelDataUrl": model_data_url}],
                    "SupportedContentTypes": ["text/csv"],
                    "SupportedResponseMIMETypes": ["text/csv"],
                },
            },
            {"ModelPackageName": CHAMPION_ARN},
        )


def test_adopting_a_registry_whose_champion_the_new_roles_cannot_read_is_refused(aws, synthesized: SynthesizedApp) -> None:
    """The audit's finding: the first release after a redeploy would fail in the evaluation job (AccessDenied)."""
    clients, stub = aws
    expect_kept(stub, repository=True, group=True)
    mapping = adoption_mapping(clients, synthesized.pipeline)
    expect_champion(stub, f"s3://{OLD_BUCKET}/releases/3f2c9e1/train/output/model.tar.gz")
    with pytest.raises(LifecycleError) as refused:
        refuse_unreadable_champion(clients, synthesized.pipeline, mapping, ())
    message = str(refused.value)
    assert "\n" not in message and f"s3://{OLD_BUCKET}/" in message and "retained_release_stores" in message


def test_a_champion_in_a_retained_store_or_no_champion_is_adopted(aws, synthesized: SynthesizedApp) -> None:
    clients, stub = aws
    expect_kept(stub, repository=True, group=True)
    mapping = adoption_mapping(clients, synthesized.pipeline)
    retained = (RetainedReleaseStore(bucket=OLD_BUCKET, kms_key_arn="arn:aws:kms:eu-west-1:111122223333:key/mrk-" + "0" * 32),)
    expect_champion(stub, f"s3://{OLD_BUCKET}/releases/3f2c9e1/train/output/model.tar.gz")
    refuse_unreadable_champion(clients, synthesized.pipeline, mapping, retained)
    expect_champion(stub, None)
    refuse_unreadable_champion(clients, synthesized.pipeline, mapping, ())


def test_an_endpoint_stack_that_cannot_be_deleted_stops_the_teardown_in_one_line(aws, synthesized: SynthesizedApp) -> None:
    clients, stub = aws
    cloudformation = stub["cloudformation"]
    name = "ml-cicd-production-endpoint"
    stack(cloudformation, name, "UPDATE_COMPLETE")
    cloudformation.add_response("delete_stack", {}, {"StackName": name})
    cloudformation.add_response(
        "describe_stacks",
        {
            "Stacks": [
                {
                    "StackName": name,
                    "StackId": STACK_ID.format(name),
                    "StackStatus": "DELETE_FAILED",
                    "StackStatusReason": "The following resource(s) failed to delete: [Endpoint].",
                    "CreationTime": "2026-11-01T00:00:00Z",
                }
            ]
        },
        {"StackName": name},
    )
    with pytest.raises(LifecycleError) as refused:
        teardown(clients, project_name="ml-cicd", template=synthesized.pipeline, say=lambda line: None)
    message = str(refused.value)
    assert "\n" not in message and message.startswith(f"{name} was not deleted (DELETE_FAILED: The following resource")
    assert "make destroy" in message  # and the staging and pipeline stacks were left alone (no further stubbed call)


def test_the_teardown_asks_before_it_deletes_anything(synthesized: SynthesizedApp, monkeypatch, capsys) -> None:
    cdk_out = ["--cdk-json", str(ROOT / "cdk.json"), "--cdk-out", str(synthesized.outdir)]
    monkeypatch.setattr("sys.stdin", io.StringIO("yes\n"))
    assert main(["teardown", *cdk_out], clients=object()) == 1  # type: ignore[arg-type] - no AWS call is made
    captured = capsys.readouterr()
    assert "Type 'ml-cicd' to go on" in captured.out and "not confirmed; nothing was changed" in captured.err


def test_an_aws_error_on_the_command_line_is_one_line(aws, synthesized: SynthesizedApp, capsys) -> None:
    clients, stub = aws
    stub["cloudformation"].add_client_error(
        "describe_stacks", service_error_code="AccessDenied", service_message="not authorized", http_status_code=403
    )
    cdk_out = ["--cdk-json", str(ROOT / "cdk.json"), "--cdk-out", str(synthesized.outdir)]
    assert main(["preflight", *cdk_out], clients=clients) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: AccessDenied") and err.count("\n") == 1


def test_make_adopt_writes_the_checked_mapping_and_imports_with_that_file() -> None:
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("\nadopt:")[1].split("\n\n")[0]
    mapping = recipe.split("scripts.lifecycle adoption-mapping ")[1].split()[0]
    assert recipe.index("synth") < recipe.index("adoption-mapping") < recipe.index("import --all")
    assert f"--resource-mapping {mapping}" in recipe  # the file the checks wrote, nothing else
