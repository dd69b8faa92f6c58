"""Helpers for the staging-gate, promote and rollback tests: a moto SageMaker
endpoint serving a registered model package, the TrainOutput artifact, and
canned endpoint answers that meet (or miss) the golden expectations.

Import explicitly (`from staging_fixtures import ...`); not a conftest.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import boto3
from moto.core import DEFAULT_ACCOUNT_ID
from moto.sagemakerruntime.models import sagemakerruntime_backends

from function_kit_fixtures import REGION, put_zip_artifact
from staging_gate.endpoint_probe import runtime_client
from staging_gate.golden_requests import GoldenRequest, parse_golden_requests

__all__ = [
    "ARTIFACT_BUCKET",
    "ARTIFACT_KEY",
    "GOLDEN_TEXT",
    "GROUP",
    "ROLE_ARN",
    "answer_for",
    "create_endpoint",
    "golden_requests",
    "queue_endpoint_answers",
    "register_package",
    "set_endpoint_state",
    "shared_client",
    "space_creation_times",
    "tick_clock",
    "upload_train_output",
]

ROOT = Path(__file__).resolve().parent.parent
GOLDEN_TEXT = (ROOT / "model_repo" / "golden-requests.jsonl").read_text()
ARTIFACT_BUCKET = "artifact-bucket"
ARTIFACT_KEY = "ml-pipeline/TrainOutpu/AbCdE12"
GROUP = "fraud-model"
ROLE_ARN = "arn:aws:iam::123456789012:role/sagemaker-execution"
POLICY = {
    "version": 1,
    "metrics": {"roc_auc": {"min": 0.95}},
    "staging": {"max_p95_latency_ms": 200, "max_error_rate": 0.0},
}


def golden_requests() -> tuple[GoldenRequest, ...]:
    """The model repository's golden requests, parsed."""
    return parse_golden_requests(GOLDEN_TEXT)


def register_package(sagemaker: Any, group: str = GROUP, status: str = "PendingManualApproval") -> str:
    """Register a model package version in `group` (created if needed); returns its ARN."""
    try:
        sagemaker.create_model_package_group(ModelPackageGroupName=group)
    except sagemaker.exceptions.ClientError:
        pass
    return sagemaker.create_model_package(
        ModelPackageGroupName=group,
        ModelApprovalStatus=status,
        InferenceSpecification={
            "Containers": [
                {"Image": "111122223333.dkr.ecr.eu-west-1.amazonaws.com/sklearn:1", "ModelDataUrl": "s3://b/m.tar.gz"}
            ],
            "SupportedContentTypes": ["text/csv", "application/json"],
            "SupportedResponseMIMETypes": ["text/csv", "application/json"],
        },
    )["ModelPackageArn"]


def create_endpoint(sagemaker: Any, endpoint_name: str, package_arn: str, suffix: str = "1") -> str:
    """Model -> EndpointConfig (variant AllTraffic) -> Endpoint, as the endpoint stack builds them.

    Calling it again with a new `suffix` for an existing endpoint moves the
    endpoint to a new config (what an update deploys). Returns the config name.
    """
    model_name = f"{endpoint_name}-model-{suffix}"
    config_name = f"{endpoint_name}-config-{suffix}"
    sagemaker.create_model(ModelName=model_name, PrimaryContainer={"ModelPackageName": package_arn}, ExecutionRoleArn=ROLE_ARN)
    sagemaker.create_endpoint_config(
        EndpointConfigName=config_name,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": model_name,
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
        ],
    )
    try:
        sagemaker.describe_endpoint(EndpointName=endpoint_name)
    except sagemaker.exceptions.ClientError:
        sagemaker.create_endpoint(EndpointName=endpoint_name, EndpointConfigName=config_name)
    else:
        from moto.sagemaker.models import sagemaker_backends

        sagemaker_backends[DEFAULT_ACCOUNT_ID][REGION].endpoints[endpoint_name].endpoint_config_name = config_name
    return config_name


@functools.cache
def shared_client(service: str) -> Any:
    """One client per service for the whole test session: building clients dominates the run
    time, and moto intercepts every client whenever a `mock_aws` context is active."""
    if service == "sagemaker-runtime":
        return runtime_client()
    return boto3.client(service, region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing")


def _s3_client() -> Any:
    return shared_client("s3")


def upload_train_output(
    package_arn: str,
    *,
    golden: str = GOLDEN_TEXT,
    policy: Any = None,
    omit: Sequence[str] = (),
    image_uri: str | None = None,
) -> None:
    """The TrainOutput artifact (release.json, release-policy.json, golden-requests.jsonl) in moto S3."""
    s3 = _s3_client()
    try:
        s3.create_bucket(Bucket=ARTIFACT_BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    except s3.exceptions.ClientError:
        pass
    files = {
        "release.json": {"model_package_arn": package_arn, "model_package_group_name": GROUP}
        | ({"image_uri": image_uri} if image_uri else {}),
        "release-policy.json": POLICY if policy is None else policy,
        "golden-requests.jsonl": golden,
        "evaluation.json": {"schema_version": 1},
    }
    put_zip_artifact(s3, ARTIFACT_BUCKET, ARTIFACT_KEY, {k: v for k, v in files.items() if k not in omit})


def answer_for(request: GoldenRequest, *, flip: bool = False) -> tuple[str, str]:
    """The body and Content-Type a good model returns for `request` (`flip`: a wrong label)."""
    rows = []
    for expectation in request.expect:
        label = 1 - expectation.label if flip else expectation.label
        rows.append((label, 0.97 if label == 1 else 0.03))
    if request.accept == "application/json":
        body = json.dumps({"predictions": [{"label": label, "probability": p} for label, p in rows]})
    else:
        body = "".join(f"{label},{p!r}\n" for label, p in rows)
    return body, request.accept


def queue_endpoint_answers(answers: Sequence[tuple[str, str]]) -> None:
    """moto's sagemaker-runtime answers: the n-th distinct request gets the n-th answer.

    (moto caches per request body, so repetitions of a request get its answer again.)
    """
    backend = sagemakerruntime_backends[DEFAULT_ACCOUNT_ID][REGION]
    backend.results_queue.extend((body, content_type, "AllTraffic", "") for body, content_type in answers)


def tick_clock(step_seconds: float) -> Iterator[float]:
    """A clock for latency measurement where every call takes `step_seconds`."""
    now = 0.0
    while True:
        yield now
        now += step_seconds


def space_creation_times(*arns: str) -> None:
    """Give packages distinct creation times, one minute apart in the order given (moto may tie them)."""
    from datetime import datetime, timedelta

    from moto.sagemaker.models import sagemaker_backends

    packages = sagemaker_backends[DEFAULT_ACCOUNT_ID][REGION].model_packages
    base = datetime(2026, 1, 1)  # naive UTC, like moto's own timestamps
    for index, arn in enumerate(arns):
        packages[arn].creation_time = base + timedelta(minutes=index)


def set_endpoint_state(endpoint_name: str, *, status: str | None = None, failure_reason: str | None = None) -> None:
    """Put moto's endpoint in a state moto cannot reach on its own (Updating, rolled back...)."""
    from moto.sagemaker.models import sagemaker_backends

    endpoint = sagemaker_backends[DEFAULT_ACCOUNT_ID][REGION].endpoints[endpoint_name]
    if status is not None:
        endpoint.endpoint_status = status
    endpoint.failure_reason = failure_reason
