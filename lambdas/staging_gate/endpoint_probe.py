"""Send the golden requests to the endpoint and time each one (I/O, no decision).

Latency is measured around a single `InvokeEndpoint` call made by a client
with no retries and bounded timeouts, so a slow or failing endpoint shows as
such instead of being hidden by the SDK's retries. The set is sent
`repetitions` times, in order, for a more meaningful p95. The probe stops
early, and says why, when the endpoint cannot be reached at all or the
function is about to run out of time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from contracts.aws_errors import describe_aws_error, describe_exception
from function_kit.input_limits import MAX_ENDPOINT_RESPONSE_BYTES, describe_bytes, read_at_most

from .golden_requests import GoldenRequest
from .staging_decision import Attempt, failed_attempt, judge_response

__all__ = [
    "CONNECT_TIMEOUT_SECONDS",
    "MAX_REPETITIONS",
    "READ_TIMEOUT_SECONDS",
    "ProbeResult",
    "probe_endpoint",
    "runtime_client",
]

CONNECT_TIMEOUT_SECONDS = 2
READ_TIMEOUT_SECONDS = 5
"""Defaults; the function's `STAGING_PROBE` configuration sets them (`warmup.ProbeSettings`)."""
MAX_REPETITIONS = 10
ANSWER_RESERVE_MS = 10_000
"""Kept, beyond one more invocation, for writing the record and answering the job."""

_UNREACHABLE_ERRORS = ("EndpointConnectionError", "ConnectTimeoutError", "ConnectionClosedError")


@dataclass(frozen=True)
class ProbeResult:
    """Every attempt made, and why the probe stopped early (None when it did not)."""

    attempts: tuple[Attempt, ...]
    aborted: str | None = None


def runtime_client(
    endpoint_url: str | None = None,
    *,
    connect_timeout: int = CONNECT_TIMEOUT_SECONDS,
    read_timeout: int = READ_TIMEOUT_SECONDS,
    session: Any = None,
) -> Any:
    """A `sagemaker-runtime` client with bounded timeouts and no retries (honest latency).

    `session`: a boto3 session for the endpoint's account (function_kit/target_account.py); default boto3's.
    """
    import boto3  # imported lazily: keeps the handler's cold import fast
    from botocore.config import Config

    return (session or boto3).client(
        "sagemaker-runtime",
        endpoint_url=endpoint_url,
        config=Config(
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            retries={"total_max_attempts": 1, "mode": "standard"},
        ),
    )


def _describe_error(error: Exception) -> str:
    return describe_exception(error) if isinstance(error, ResponseTooLarge) else describe_aws_error(error)


class ResponseTooLarge(Exception):
    """The endpoint answered with more than MAX_ENDPOINT_RESPONSE_BYTES: an error attempt, never read whole."""

    def __str__(self) -> str:
        return f"the response is larger than the {describe_bytes(MAX_ENDPOINT_RESPONSE_BYTES)} the gate reads"


def _bounded_body(stream: Any) -> bytes:
    """At most MAX_ENDPOINT_RESPONSE_BYTES of the response body (the SDK streams it: the rest is never read)."""
    body = read_at_most(stream, MAX_ENDPOINT_RESPONSE_BYTES)
    if body is None:
        raise ResponseTooLarge()
    return body


def probe_endpoint(
    client: Any,
    endpoint_name: str,
    requests: Sequence[GoldenRequest],
    *,
    repetitions: int,
    clock: Callable[[], float] = time.perf_counter,
    remaining_ms: Callable[[], int] | None = None,
    call_seconds: int = CONNECT_TIMEOUT_SECONDS + READ_TIMEOUT_SECONDS,
) -> ProbeResult:
    """Invoke every request `repetitions` times; `clock` is in seconds (injectable for tests).

    Stops while the function still has time for one more call (`call_seconds`) and the answer.
    """
    reserve_ms = call_seconds * 1000 + ANSWER_RESERVE_MS
    attempts: list[Attempt] = []
    for repetition in range(1, repetitions + 1):
        for request in requests:
            if remaining_ms is not None and remaining_ms() < reserve_ms:
                total = repetitions * len(requests)
                return ProbeResult(
                    tuple(attempts),
                    f"stopped after {len(attempts)} of {total} invocations: the function ran out of time",
                )
            started = clock()
            try:
                response = client.invoke_endpoint(
                    EndpointName=endpoint_name,
                    ContentType=request.content_type,
                    Accept=request.accept,
                    Body=request.body,
                )
                body = _bounded_body(response["Body"])
            except Exception as error:  # noqa: BLE001 - every failure is an error attempt
                latency_ms = (clock() - started) * 1000
                description = _describe_error(error)
                attempts.append(failed_attempt(request, repetition=repetition, latency_ms=latency_ms, error=description))
                if type(error).__name__ in _UNREACHABLE_ERRORS:
                    return ProbeResult(tuple(attempts), f"endpoint {endpoint_name} is unreachable: {description}")
                continue
            latency_ms = (clock() - started) * 1000
            attempts.append(
                judge_response(
                    request,
                    repetition=repetition,
                    latency_ms=latency_ms,
                    body=body,
                    content_type=response.get("ContentType"),
                )
            )
    return ProbeResult(tuple(attempts))
