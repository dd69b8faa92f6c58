"""The one place a pipeline function's AWS clients are made, and where tests and the rehearsal inject doubles.

`aws_client(service)` builds a boto3 client on first use (boto3 is imported
then, not at cold start: the handlers' cold import stays fast) with the
project's configuration for that service, and reuses it while the function is
warm. Every function's services (`pipeline_function.FunctionServices` and the
subclasses the handlers declare) default to it; a test or the rehearsal passes its own
callables instead. Three kinds of client are made elsewhere on purpose, each
with its own credentials or timeouts: the input-artifact reader
(`artifacts.artifact_s3_client`, signed with the job's own credentials), the
endpoint clients of a target account (`target_account.EndpointSessions`, the
reader role's credentials) and the staging gate's SageMaker Runtime client
(`staging_gate.endpoint_probe.runtime_client`, bounded timeouts, no retries).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

__all__ = ["aws_client", "client_of"]

# S3: SigV4, which SSE-KMS objects (records, artifacts) require.
_SERVICE_CONFIG: dict[str, dict[str, Any]] = {"s3": {"signature_version": "s3v4"}}


@functools.cache
def aws_client(service: str) -> Any:
    """The function's own client of `service`, made on first use with the project's config and reused while warm."""
    import boto3  # imported lazily: keeps the handler's cold import fast

    settings = _SERVICE_CONFIG.get(service)
    if settings is None:
        return boto3.client(service)
    from botocore.config import Config

    return boto3.client(service, config=Config(**settings))


def client_of(service: str) -> Callable[[], Any]:
    """A factory of the function's own `service` client (a default for a services field)."""
    return functools.partial(aws_client, service)
