"""The approval rule template custom resource: every lifecycle transition, answered exactly once.

Each test drives the real handler with a CloudFormation custom resource
request (the documented shape) and a CodeCommit client under botocore's
Stubber, so every call and its parameters are checked against the service
model; the response CloudFormation would receive is captured.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from approval_rule_templates.handler import handler
from approval_rule_templates.template_lifecycle import NOT_CREATED_PREFIX

TEMPLATE_ID = "0a1b2c3d-4e5f-6789-abcd-ef0123456789"
SHA = "a" * 64
PROPS = {
    "TemplateName": "ml-cicd-release-review",
    "Content": '{"Version":"2018-11-08"}',
    "Description": "2 reviewer(s)",
    "RepositoryName": "ml-model",
}


def request(
    kind: str, props: Mapping[str, str] = PROPS, *, old: Mapping[str, str] | None = None, physical_id: str | None = TEMPLATE_ID
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "RequestType": kind,
        "ResponseURL": "https://cloudformation-custom-resource-response.example/x",
        "StackId": "arn:aws:cloudformation:eu-west-1:111122223333:stack/ml-cicd-pipeline/guid",
        "RequestId": "req-1",
        "ResourceType": "Custom::ApprovalRuleTemplate",
        "LogicalResourceId": "BranchProtectionReviewTemplate",
        "ResourceProperties": {"ServiceToken": "arn:aws:lambda:eu-west-1:111122223333:function:f", **props},
    }
    if kind != "Create":
        event["PhysicalResourceId"] = physical_id
    if old is not None:
        event["OldResourceProperties"] = {"ServiceToken": "arn:aws:lambda:eu-west-1:111122223333:function:f", **old}
    return event


def template(props: Mapping[str, str] = PROPS, *, template_id: str = TEMPLATE_ID) -> dict[str, Any]:
    return {
        "approvalRuleTemplate": {
            "approvalRuleTemplateId": template_id,
            "approvalRuleTemplateName": props["TemplateName"],
            "approvalRuleTemplateContent": props["Content"],
            "approvalRuleTemplateDescription": props["Description"],
            "ruleContentSha256": SHA,
        }
    }


@pytest.fixture
def codecommit() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("codecommit", region_name="eu-west-1", aws_access_key_id="test", aws_secret_access_key="test")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def run(event: dict[str, Any], client: Any) -> dict[str, Any]:
    """Invoke the handler; return the one response it sent CloudFormation."""
    sent: list[Mapping[str, Any]] = []
    handler(event, None, codecommit=client, respond=lambda url, body: sent.append(body))
    (body,) = sent
    return dict(body)


def not_found(stubber: Stubber, method: str, code: str = "ApprovalRuleTemplateDoesNotExistException") -> None:
    stubber.add_client_error(method, service_error_code=code, http_status_code=400)


def expect_association(
    stubber: Stubber, *, already: bool, repository: str = "ml-model", name: str = "ml-cicd-release-review"
) -> None:
    stubber.add_response(
        "list_associated_approval_rule_templates_for_repository",
        {"approvalRuleTemplateNames": [name] if already else []},
        {"repositoryName": repository},
    )
    if not already:
        stubber.add_response(
            "associate_approval_rule_template_with_repository",
            {},
            {"approvalRuleTemplateName": name, "repositoryName": repository},
        )


def test_create_makes_and_associates_the_template_and_reports_its_id(codecommit) -> None:
    client, stubber = codecommit
    stubber.add_response(
        "create_approval_rule_template",
        template(),
        {
            "approvalRuleTemplateName": PROPS["TemplateName"],
            "approvalRuleTemplateContent": PROPS["Content"],
            "approvalRuleTemplateDescription": PROPS["Description"],
        },
    )
    expect_association(stubber, already=False)
    body = run(request("Create"), client)
    assert body["Status"] == "SUCCESS" and body["PhysicalResourceId"] == TEMPLATE_ID
    assert body["RequestId"] == "req-1" and body["LogicalResourceId"] == "BranchProtectionReviewTemplate"


def test_create_refuses_a_taken_name_and_its_rollback_deletes_nothing(codecommit) -> None:
    client, stubber = codecommit
    not_found(stubber, "create_approval_rule_template", "ApprovalRuleTemplateNameAlreadyExistsException")
    body = run(request("Create"), client)
    assert body["Status"] == "FAILED"
    assert "'ml-cicd-release-review' already exists" in body["Reason"] and "\n" not in body["Reason"]
    assert body["PhysicalResourceId"].startswith(NOT_CREATED_PREFIX)
    # CloudFormation's rollback then deletes that physical ID: no call at all (Stubber would fail on any).
    rollback = run(request("Delete", physical_id=body["PhysicalResourceId"]), client)
    assert rollback["Status"] == "SUCCESS"


def test_an_unexpected_error_is_answered_as_one_failure(codecommit) -> None:
    client, stubber = codecommit
    not_found(stubber, "create_approval_rule_template", "ThrottlingException")
    body = run(request("Create"), client)
    assert body["Status"] == "FAILED" and body["Reason"].startswith("ThrottlingException")


def test_delete_of_something_already_gone_succeeds(codecommit) -> None:
    client, stubber = codecommit
    not_found(stubber, "get_approval_rule_template")
    assert run(request("Delete"), client)["Status"] == "SUCCESS"


def test_delete_leaves_a_template_of_the_same_name_that_is_not_ours(codecommit) -> None:
    client, stubber = codecommit
    stubber.add_response(
        "get_approval_rule_template", template(template_id="someone-elses"), {"approvalRuleTemplateName": PROPS["TemplateName"]}
    )
    assert run(request("Delete"), client)["Status"] == "SUCCESS"


def test_delete_disassociates_then_deletes_tolerating_a_repository_already_gone(codecommit) -> None:
    client, stubber = codecommit
    stubber.add_response("get_approval_rule_template", template(), {"approvalRuleTemplateName": PROPS["TemplateName"]})
    not_found(stubber, "disassociate_approval_rule_template_from_repository", "RepositoryDoesNotExistException")
    stubber.add_response(
        "delete_approval_rule_template",
        {"approvalRuleTemplateId": TEMPLATE_ID},
        {"approvalRuleTemplateName": PROPS["TemplateName"]},
    )
    assert run(request("Delete"), client)["Status"] == "SUCCESS"


def test_update_renames_when_the_project_is_renamed(codecommit) -> None:
    client, stubber = codecommit
    new = {**PROPS, "TemplateName": "fraud-release-review"}
    stubber.add_response("get_approval_rule_template", template(), {"approvalRuleTemplateName": PROPS["TemplateName"]})
    stubber.add_response(
        "update_approval_rule_template_name",
        template(new),
        {"oldApprovalRuleTemplateName": PROPS["TemplateName"], "newApprovalRuleTemplateName": new["TemplateName"]},
    )
    expect_association(stubber, already=True, name=new["TemplateName"])
    body = run(request("Update", new, old=PROPS), client)
    assert body["Status"] == "SUCCESS" and body["PhysicalResourceId"] == TEMPLATE_ID


def test_update_changes_content_with_the_current_sha_and_the_description(codecommit) -> None:
    client, stubber = codecommit
    new = {**PROPS, "Content": '{"Version":"2018-11-08","x":1}', "Description": "3 reviewer(s)"}
    stubber.add_response("get_approval_rule_template", template(), {"approvalRuleTemplateName": PROPS["TemplateName"]})
    stubber.add_response(
        "update_approval_rule_template_content",
        template(new),
        {"approvalRuleTemplateName": PROPS["TemplateName"], "newRuleContent": new["Content"], "existingRuleContentSha256": SHA},
    )
    stubber.add_response(
        "update_approval_rule_template_description",
        template(new),
        {"approvalRuleTemplateName": PROPS["TemplateName"], "approvalRuleTemplateDescription": new["Description"]},
    )
    expect_association(stubber, already=True)
    assert run(request("Update", new, old=PROPS), client)["Status"] == "SUCCESS"


def test_update_associates_a_new_repository(codecommit) -> None:
    client, stubber = codecommit
    new = {**PROPS, "RepositoryName": "fraud-model"}
    stubber.add_response("get_approval_rule_template", template(), {"approvalRuleTemplateName": PROPS["TemplateName"]})
    expect_association(stubber, already=False, repository="fraud-model")
    assert run(request("Update", new, old=PROPS), client)["Status"] == "SUCCESS"


def test_update_recreates_a_template_deleted_out_of_band(codecommit) -> None:
    client, stubber = codecommit
    not_found(stubber, "get_approval_rule_template")
    stubber.add_response(
        "create_approval_rule_template",
        template(template_id="new-id"),
        {
            "approvalRuleTemplateName": PROPS["TemplateName"],
            "approvalRuleTemplateContent": PROPS["Content"],
            "approvalRuleTemplateDescription": PROPS["Description"],
        },
    )
    expect_association(stubber, already=False)
    body = run(request("Update", PROPS, old=PROPS), client)
    assert body["Status"] == "SUCCESS" and body["PhysicalResourceId"] == "new-id"


def test_a_request_missing_properties_fails_with_one_line(codecommit) -> None:
    client, _ = codecommit
    event = request("Create")
    del event["ResourceProperties"]["RepositoryName"]
    body = run(event, client)
    assert body["Status"] == "FAILED" and body["Reason"] == "the resource property RepositoryName is missing"


def test_the_response_is_put_to_the_presigned_url_as_cloudformation_documents() -> None:
    """The default responder: an HTTP PUT of the JSON body with an empty Content-Type (the documented form)."""
    received: list[tuple[str, dict[str, str], bytes]] = []

    class Endpoint(BaseHTTPRequestHandler):
        def do_PUT(self) -> None:  # noqa: N802 - http.server's naming
            length = int(self.headers["Content-Length"])
            received.append((self.path, dict(self.headers), self.rfile.read(length)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Endpoint)
    thread = threading.Thread(target=server.handle_request, daemon=True)
    thread.start()
    event = request("Delete", physical_id=f"{NOT_CREATED_PREFIX}req-0")
    event["ResponseURL"] = f"http://127.0.0.1:{server.server_port}/response?signature=x"
    handler(event, None, codecommit=object())
    thread.join(timeout=10)
    server.server_close()
    ((path, headers, raw),) = received
    assert path == "/response?signature=x" and headers.get("Content-Type", "") == ""
    assert json.loads(raw)["Status"] == "SUCCESS"


def expect_create(stubber: Stubber, props: Mapping[str, str] = PROPS, *, template_id: str = TEMPLATE_ID) -> None:
    stubber.add_response(
        "create_approval_rule_template",
        template(props, template_id=template_id),
        {
            "approvalRuleTemplateName": props["TemplateName"],
            "approvalRuleTemplateContent": props["Content"],
            "approvalRuleTemplateDescription": props["Description"],
        },
    )


def expect_removal(stubber: Stubber, props: Mapping[str, str] = PROPS) -> None:
    """`delete` of our template: found by name with our ID, disassociated, deleted."""
    stubber.add_response("get_approval_rule_template", template(props), {"approvalRuleTemplateName": props["TemplateName"]})
    stubber.add_response(
        "disassociate_approval_rule_template_from_repository",
        {},
        {"approvalRuleTemplateName": props["TemplateName"], "repositoryName": props["RepositoryName"]},
    )
    stubber.add_response(
        "delete_approval_rule_template",
        {"approvalRuleTemplateId": TEMPLATE_ID},
        {"approvalRuleTemplateName": props["TemplateName"]},
    )


def test_a_create_that_fails_after_making_the_template_removes_it_so_a_retry_succeeds(codecommit) -> None:
    client, stubber = codecommit
    expect_create(stubber)
    not_found(stubber, "list_associated_approval_rule_templates_for_repository", "ThrottlingException")
    expect_removal(stubber)
    body = run(request("Create"), client)
    assert body["Status"] == "FAILED" and "\n" not in body["Reason"]
    assert "could not associate it with 'ml-model' (ThrottlingException" in body["Reason"] and body["Reason"].endswith(
        "removed it again"
    )
    assert body["PhysicalResourceId"].startswith(NOT_CREATED_PREFIX)  # nothing left: the rollback deletes nothing
    assert run(request("Delete", physical_id=body["PhysicalResourceId"]), client)["Status"] == "SUCCESS"
    # The next attempt does not find an orphan under the name.
    expect_create(stubber, template_id="second-id")
    expect_association(stubber, already=False)
    retry = run(request("Create"), client)
    assert retry["Status"] == "SUCCESS" and retry["PhysicalResourceId"] == "second-id"


def test_a_partial_create_that_cannot_be_undone_reports_the_template_for_the_rollback_to_delete(codecommit) -> None:
    client, stubber = codecommit
    expect_create(stubber)
    stubber.add_response(
        "list_associated_approval_rule_templates_for_repository",
        {"approvalRuleTemplateNames": []},
        {"repositoryName": "ml-model"},
    )
    not_found(stubber, "associate_approval_rule_template_with_repository", "ThrottlingException")
    not_found(stubber, "get_approval_rule_template", "ThrottlingException")  # the undo fails too
    body = run(request("Create"), client)
    assert body["Status"] == "FAILED" and body["PhysicalResourceId"] == TEMPLATE_ID
    assert "the rollback removes it" in body["Reason"] and "\n" not in body["Reason"]
    # CloudFormation's rollback deletes the failed resource by that physical ID: the template goes.
    expect_removal(stubber)
    assert run(request("Delete", physical_id=TEMPLATE_ID), client)["Status"] == "SUCCESS"


RENAMED = {**PROPS, "TemplateName": "fraud-release-review"}


def test_a_refused_rename_fails_and_its_rollback_update_finds_the_template_under_its_old_name(codecommit) -> None:
    client, stubber = codecommit
    stubber.add_response("get_approval_rule_template", template(), {"approvalRuleTemplateName": PROPS["TemplateName"]})
    stubber.add_client_error(
        "update_approval_rule_template_name",
        service_error_code="ApprovalRuleTemplateNameAlreadyExistsException",
        http_status_code=400,
        expected_params={
            "oldApprovalRuleTemplateName": PROPS["TemplateName"],
            "newApprovalRuleTemplateName": RENAMED["TemplateName"],
        },
    )
    failed = run(request("Update", RENAMED, old=PROPS), client)
    assert failed["Status"] == "FAILED" and failed["PhysicalResourceId"] == TEMPLATE_ID
    # The rollback: from the refused name (held by someone else's template) back to the one it has.
    stubber.add_response(
        "get_approval_rule_template",
        template(RENAMED, template_id="someone-elses"),
        {"approvalRuleTemplateName": RENAMED["TemplateName"]},
    )
    stubber.add_response("get_approval_rule_template", template(), {"approvalRuleTemplateName": PROPS["TemplateName"]})
    expect_association(stubber, already=True)
    rollback = run(request("Update", PROPS, old=RENAMED), client)
    assert rollback["Status"] == "SUCCESS" and rollback["PhysicalResourceId"] == TEMPLATE_ID


def test_the_rollback_of_a_completed_rename_renames_back(codecommit) -> None:
    client, stubber = codecommit
    stubber.add_response("get_approval_rule_template", template(RENAMED), {"approvalRuleTemplateName": RENAMED["TemplateName"]})
    stubber.add_response(
        "update_approval_rule_template_name",
        template(),
        {"oldApprovalRuleTemplateName": RENAMED["TemplateName"], "newApprovalRuleTemplateName": PROPS["TemplateName"]},
    )
    expect_association(stubber, already=True)
    assert run(request("Update", PROPS, old=RENAMED), client)["PhysicalResourceId"] == TEMPLATE_ID


def test_an_update_that_changes_nothing_makes_no_change(codecommit) -> None:
    client, stubber = codecommit
    stubber.add_response("get_approval_rule_template", template(), {"approvalRuleTemplateName": PROPS["TemplateName"]})
    expect_association(stubber, already=True)  # and no update call (the Stubber refuses any call not queued)
    body = run(request("Update", PROPS, old=PROPS), client)
    assert body["Status"] == "SUCCESS" and body["PhysicalResourceId"] == TEMPLATE_ID


def test_a_failed_update_keeps_the_physical_id(codecommit) -> None:
    """CloudFormation rolls an update back against the resource it has: the response must not name another."""
    client, stubber = codecommit
    not_found(stubber, "get_approval_rule_template", "ThrottlingException")
    body = run(request("Update", RENAMED, old=PROPS), client)
    assert body["Status"] == "FAILED" and body["PhysicalResourceId"] == TEMPLATE_ID
