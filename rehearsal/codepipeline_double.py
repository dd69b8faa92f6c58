"""A stand-in for CodePipeline's two job-answer calls, which moto does not implement.

`intercept_codepipeline_answers` wraps `botocore.client.BaseClient._make_api_call`:
`PutJobSuccessResult` and `PutJobFailureResult` on any CodePipeline client are
checked as the service would check them (the request shape from the service
model, plus the lengths and patterns botocore itself does not enforce: the job
id, the 5,000-character failure message...) and handed to a callback, whose
return value is the response. Every other call goes through unchanged (to
moto, when active). The rehearsal and the test suite both use it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["ANSWER_OPERATIONS", "InvalidCodePipelineAnswer", "check_answer", "intercept_codepipeline_answers"]

ANSWER_OPERATIONS = frozenset({"PutJobSuccessResult", "PutJobFailureResult"})
_JOB_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_VARIABLE_NAME = re.compile(r"^[A-Za-z0-9@\-_]+$")


class InvalidCodePipelineAnswer(AssertionError):
    """An answer CodePipeline would refuse."""


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise InvalidCodePipelineAnswer(message)


def check_answer(client: Any, operation_name: str, params: dict[str, Any]) -> None:
    """Refuse an answer the service would refuse (raises InvalidCodePipelineAnswer)."""
    from botocore.validate import ParamValidator

    shape = client.meta.service_model.operation_model(operation_name).input_shape
    report = ParamValidator().validate(params, shape)
    _require(not report.has_errors(), f"invalid {operation_name} request: {report.generate_report()}")
    _require(bool(_JOB_ID.match(params["jobId"])), f"jobId {params['jobId']!r} does not match CodePipeline's pattern")
    if operation_name == "PutJobFailureResult":
        details = params["failureDetails"]
        _require(1 <= len(details["message"]) <= 5000, f"failure message has {len(details['message'])} characters")
        _require(len(details.get("externalExecutionId", "x")) <= 1500, "externalExecutionId is over 1,500 characters")
        return
    for name, value in params.get("outputVariables", {}).items():
        _require(bool(_VARIABLE_NAME.match(name)), f"output variable name {name!r} is invalid")
        _require(isinstance(value, str), f"output variable {name} is not a string")
    summary = params.get("executionDetails", {}).get("summary", "x")
    _require(1 <= len(summary) <= 2048, f"execution summary has {len(summary)} characters")
    _require(len(params.get("continuationToken", "x")) <= 2048, "continuationToken is over 2,048 characters")


@contextmanager
def intercept_codepipeline_answers(respond: Callable[[str, dict[str, Any]], Any]) -> Iterator[None]:
    """Within the block, checked answer calls go to `respond(operation_name, params)` instead of AWS."""
    import botocore.client

    original = botocore.client.BaseClient._make_api_call

    def make_api_call(client: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
        if operation_name not in ANSWER_OPERATIONS or client.meta.service_model.service_name != "codepipeline":
            return original(client, operation_name, api_params)
        check_answer(client, operation_name, api_params)
        return respond(operation_name, api_params)

    botocore.client.BaseClient._make_api_call = make_api_call  # type: ignore[method-assign]
    try:
        yield
    finally:
        botocore.client.BaseClient._make_api_call = original  # type: ignore[method-assign]
