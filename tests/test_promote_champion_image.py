"""Promotion keeps the champion's own image: a `champion-<version>` tag the image lifecycle never expires."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from promote.champion_image import ImageTagError, champion_tag, protect_champion_image
from stacks.components.image_repository import CHAMPION_TAG_PREFIX

REPOSITORY = "ml-cicd-model"
URI = f"111122223333.dkr.ecr.eu-west-1.amazonaws.com/{REPOSITORY}"
DIGEST = "sha256:" + "cd" * 32
ARN = "arn:aws:sagemaker:eu-west-1:111122223333:model-package/ml-cicd-models/7"
MANIFEST = '{"schemaVersion": 2}'


def package(image: str) -> dict[str, Any]:
    return {"ModelPackageArn": ARN, "InferenceSpecification": {"Containers": [{"Image": image}]}}


@pytest.fixture
def ecr() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("ecr", region_name="eu-west-1", aws_access_key_id="t", aws_secret_access_key="t")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def expect_get(stubber: Stubber) -> None:
    stubber.add_response(
        "batch_get_image",
        {
            "images": [
                {
                    "repositoryName": REPOSITORY,
                    "imageId": {"imageDigest": DIGEST},
                    "imageManifest": MANIFEST,
                    "imageManifestMediaType": "application/vnd.oci.image.manifest.v1+json",
                }
            ],
            "failures": [],
        },
        {"repositoryName": REPOSITORY, "imageIds": [{"imageDigest": DIGEST}]},
    )


def test_the_tag_prefix_is_the_one_the_lifecycle_keeps() -> None:
    assert champion_tag(ARN) == "champion-7" and champion_tag(ARN).startswith(CHAMPION_TAG_PREFIX)


def test_the_champions_own_image_gets_a_new_tag_on_its_manifest(ecr) -> None:
    client, stubber = ecr
    expect_get(stubber)
    stubber.add_response(
        "put_image",
        {},
        {
            "repositoryName": REPOSITORY,
            "imageManifest": MANIFEST,
            "imageTag": "champion-7",
            "imageDigest": DIGEST,
            "imageManifestMediaType": "application/vnd.oci.image.manifest.v1+json",
        },
    )
    assert (
        protect_champion_image(client, package(f"{URI}@{DIGEST}"), repository_name=REPOSITORY, repository_uri=URI) == "champion-7"
    )


def test_tagging_again_is_idempotent(ecr) -> None:
    client, stubber = ecr
    expect_get(stubber)
    stubber.add_client_error("put_image", service_error_code="ImageAlreadyExistsException", http_status_code=400)
    assert (
        protect_champion_image(client, package(f"{URI}@{DIGEST}"), repository_name=REPOSITORY, repository_uri=URI) == "champion-7"
    )


def test_a_prebuilt_image_or_another_repository_has_nothing_to_keep(ecr) -> None:
    client, _ = ecr
    prebuilt = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.4-2-cpu-py3"
    assert protect_champion_image(client, package(prebuilt), repository_name=REPOSITORY, repository_uri=URI) is None
    other = f"111122223333.dkr.ecr.eu-west-1.amazonaws.com/other@{DIGEST}"
    assert protect_champion_image(client, package(other), repository_name=REPOSITORY, repository_uri=URI) is None


def test_a_missing_image_or_a_refused_tag_fails_with_one_line(ecr) -> None:
    client, stubber = ecr
    stubber.add_response("batch_get_image", {"images": [], "failures": []})
    with pytest.raises(ImageTagError, match="is not in ml-cicd-model"):
        protect_champion_image(client, package(f"{URI}@{DIGEST}"), repository_name=REPOSITORY, repository_uri=URI)
    expect_get(stubber)
    stubber.add_client_error("put_image", service_error_code="AccessDeniedException", http_status_code=400)
    with pytest.raises(ImageTagError, match="failed: AccessDeniedException"):
        protect_champion_image(client, package(f"{URI}@{DIGEST}"), repository_name=REPOSITORY, repository_uri=URI)


def test_the_promote_role_may_tag_only_the_model_image_repository(synthesized) -> None:
    import json

    resources = synthesized.pipeline["Resources"]
    (repository_id,) = [k for k, r in resources.items() if r["Type"] == "AWS::ECR::Repository"]
    statements = [
        s
        for k, r in resources.items()
        if r["Type"] == "AWS::IAM::Policy" and k.startswith("PromoteRole")
        for s in r["Properties"]["PolicyDocument"]["Statement"]
        if "ecr:PutImage" in json.dumps(s)
    ]
    assert [s["Resource"] for s in statements] == [{"Fn::GetAtt": [repository_id, "Arn"]}]
