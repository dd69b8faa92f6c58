"""The Lambda-invoke event CodePipeline sends a function, exactly as AWS documents it.

https://docs.aws.amazon.com/codepipeline/latest/userguide/actions-invoke-lambda-function.html
The artifact credentials are fake ones the sandbox accepts; the rehearsal
never prints or records the event.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from rehearsal.aws_sandbox import ACCOUNT_ID, ARTIFACT_BUCKET

__all__ = ["codepipeline_job_event"]

_ARTIFACT_CREDENTIALS = {
    "accessKeyId": "ASIAREHEARSALJOBKEY1",
    "secretAccessKey": "rehearsal-job-artifact-secret",
    "sessionToken": "rehearsal-job-session-token",
}


def codepipeline_job_event(
    *,
    job_id: str,
    function_name: str,
    input_artifacts: Sequence[tuple[str, str]],
    user_parameters: str | None = None,
    continuation_token: str | None = None,
) -> dict[str, Any]:
    """`{"CodePipeline.job": ...}` with `input_artifacts` as (name, key) in the artifact bucket.

    `user_parameters` is the action's UserParameters string, variables already resolved.
    """
    configuration: dict[str, str] = {"FunctionName": function_name}
    if user_parameters is not None:
        configuration["UserParameters"] = user_parameters
    data: dict[str, Any] = {
        "actionConfiguration": {"configuration": configuration},
        "inputArtifacts": [
            {
                "name": name,
                "revision": None,
                "location": {"type": "S3", "s3Location": {"bucketName": ARTIFACT_BUCKET, "objectKey": key}},
            }
            for name, key in input_artifacts
        ],
        "outputArtifacts": [],
        "artifactCredentials": {**_ARTIFACT_CREDENTIALS, "expirationTime": int(time.time() * 1000) + 3_600_000},
    }
    if continuation_token is not None:
        data["continuationToken"] = continuation_token
    return {"CodePipeline.job": {"id": job_id, "accountId": ACCOUNT_ID, "data": data}}
