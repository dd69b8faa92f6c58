"""An offline stand-in for the AWS account the pipeline runs in.

S3 and SageMaker are moto's in-process fakes. CodePipeline's
`PutJobSuccessResult` / `PutJobFailureResult` (which moto lacks) are checked
and recorded by the test doubles' `record_codepipeline_answers`, so a gate handler
answers its job exactly as in AWS and the rehearsal reads the answer.
SageMaker Runtime alone may be pointed at the local inference server
(`AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME`): moto lets requests to non-AWS hosts
through. Nothing here reaches the network.
"""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from rehearsal import aws_request_constraints
from rehearsal.codepipeline_double import CodePipelineAnswers, record_codepipeline_answers

__all__ = [
    "ACCOUNT_ID",
    "ARTIFACT_BUCKET",
    "ARTIFACT_KEY_ARN",
    "REGION",
    "Sandbox",
    "aws_sandbox",
    "environment",
    "zip_files",
]

REGION = "eu-west-1"
ACCOUNT_ID = "123456789012"  # moto's default account
ARTIFACT_BUCKET = "rehearsal-pipeline-artifacts"
ARTIFACT_KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/00000000-0000-0000-0000-000000000000"


# Fake credentials for the sandbox; distinct from the job's artifact credentials.
_FUNCTION_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "AKIAREHEARSALFUNCTION",
    "AWS_SECRET_ACCESS_KEY": "rehearsal-function-secret",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}
_CLEARED_VARIABLES = (
    "AWS_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL_SAGEMAKER",
    "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME",
    "AWS_ENDPOINT_URL_CODEPIPELINE",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
    "RECORD_BUCKET",
    "RECORD_PREFIX",
    "PLATFORM_FLOORS",
    "MODEL_PACKAGE_GROUP_NAME",
)


@contextmanager
def environment(values: Mapping[str, str | None]) -> Iterator[None]:
    """Set (or, for `None`, remove) environment variables for the block, then restore them."""
    saved = {name: os.environ.get(name) for name in values}
    try:
        for name, value in values.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@dataclass
class Sandbox:
    """The faked account: clients on moto, the captured CodePipeline answers."""

    answers: CodePipelineAnswers
    s3: Any
    sagemaker: Any

    def put_zip_artifact(self, key: str, files: Mapping[str, bytes]) -> str:
        """Upload a zipped pipeline artifact to the artifact bucket; return its key."""
        self.s3.put_object(Bucket=ARTIFACT_BUCKET, Key=key, Body=zip_files(files))
        return key

    def download_prefix(self, bucket: str, prefix: str) -> dict[str, bytes]:
        """Every object under `prefix`, by key."""
        found: dict[str, bytes] = {}
        paginator = self.s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                found[item["Key"]] = self.s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
        return found


def zip_files(files: Mapping[str, bytes]) -> bytes:
    """A zip archive of `files` at its root, as CodePipeline stores an artifact."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


@contextmanager
def aws_sandbox() -> Iterator[Sandbox]:
    """moto S3 + SageMaker with fake credentials, and CodePipeline answers captured.

    Every AWS request is checked against the service model's constraints (`aws_request_constraints`).
    """
    import boto3
    from moto import mock_aws

    aws_request_constraints.install()
    cleared: dict[str, str | None] = {name: None for name in _CLEARED_VARIABLES}
    with environment({**cleared, **_FUNCTION_CREDENTIALS}), mock_aws(), record_codepipeline_answers() as answers:
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=ARTIFACT_BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        yield Sandbox(answers=answers, s3=s3, sagemaker=boto3.client("sagemaker", region_name=REGION))
