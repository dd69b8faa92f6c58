"""Lambda entry point: the `Custom::ApprovalRuleTemplate` resource's handler.

CloudFormation invokes the function asynchronously with a custom resource
request and waits for exactly one response, PUT to the request's pre-signed
`ResponseURL` ("The custom resource provider ... must respond with a SUCCESS
or FAILED status ... to the pre-signed URL", CloudFormation User Guide,
custom resource request and response objects). Every path answers once:
success, a one-line failure reason, or a failure for an unexpected error. The
event is never logged (the response URL is a credential for the stack).
"""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

from contracts.aws_errors import code_or_type
from function_kit.clients import aws_client
from function_kit.structured_log import gate_logger, log_fields

from .template_lifecycle import NOT_CREATED_PREFIX, TemplateProperties, TemplateSetupError, create, delete, update

__all__ = ["handler", "lifecycle_step"]

_LOGGER = gate_logger("approval_rule_templates")
# CloudFormation shows the reason in the console; responses are bounded at 4 KB in all.
_MAX_REASON = 1000
# What is read of the response URL's answer: a function never reads a stream whole (docs/contracts.md#limits).
_MAX_ANSWER_BYTES = 64 * 1024


def lifecycle_step(event: Mapping[str, Any], codecommit: Any) -> str:
    """Run the request's lifecycle step; return the physical ID to report."""
    kind = event["RequestType"]
    new = TemplateProperties.from_resource(event.get("ResourceProperties", {}))
    if kind == "Create":
        return create(codecommit, new)
    physical_id = str(event["PhysicalResourceId"])
    if kind == "Update":
        old = TemplateProperties.from_resource(event.get("OldResourceProperties", {}))
        return update(codecommit, physical_id, old, new)
    if kind == "Delete":
        delete(codecommit, physical_id, new)
        return physical_id
    raise TemplateSetupError(f"unknown RequestType {kind!r}")


def _put_response(url: str, body: Mapping[str, Any]) -> None:
    data = json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="PUT", headers={"Content-Type": "", "Content-Length": str(len(data))})
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - CloudFormation's https URL
        response.read(_MAX_ANSWER_BYTES)  # S3 answers the PUT with an empty body; nothing in it is used


def _failure_physical_id(event: Mapping[str, Any], left_behind: str | None = None) -> str:
    # A failed create has no resource (the rollback's delete must act on nothing), unless it left one behind
    # that it could not remove: then the rollback's delete removes exactly that template.
    if event.get("RequestType") == "Create" or not event.get("PhysicalResourceId"):
        return (
            left_behind
            if event.get("RequestType") == "Create" and left_behind
            else f"{NOT_CREATED_PREFIX}{event.get('RequestId', 'unknown')}"
        )
    return str(event["PhysicalResourceId"])


def handler(
    event: Mapping[str, Any],
    context: Any,
    *,
    codecommit: Any | None = None,
    respond: Callable[[str, Mapping[str, Any]], None] = _put_response,
) -> dict[str, str]:
    status, reason = "SUCCESS", ""
    try:
        physical_id = lifecycle_step(event, codecommit or aws_client("codecommit"))
    except TemplateSetupError as error:
        status, reason, physical_id = "FAILED", str(error), _failure_physical_id(event, error.physical_id)
    except Exception as error:  # noqa: BLE001 - answered as a failure, never left to time out
        status, reason, physical_id = "FAILED", f"{code_or_type(error)}: {error}", _failure_physical_id(event)
    body = {
        "Status": status,
        "Reason": reason[:_MAX_REASON] or "OK",
        "PhysicalResourceId": physical_id,
        "StackId": event.get("StackId", ""),
        "RequestId": event.get("RequestId", ""),
        "LogicalResourceId": event.get("LogicalResourceId", ""),
        "NoEcho": False,
        "Data": {},
    }
    respond(str(event.get("ResponseURL", "")), body)
    log_fields(
        _LOGGER,
        logging.INFO if status == "SUCCESS" else logging.ERROR,
        "approval rule template",
        request_type=event.get("RequestType"),
        status=status,
        reason=reason[:_MAX_REASON],
        physical_id=physical_id,
    )
    return {"Status": status, "PhysicalResourceId": physical_id}
