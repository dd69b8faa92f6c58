"""Create, update and delete one approval rule template and its association, idempotently.

CodeCommit approval rule templates have no CloudFormation resource type. This
module is the lifecycle CloudFormation expects of a resource, written against
the CodeCommit API:

* the physical ID is the template's `approvalRuleTemplateId`, so a delete only
  ever removes the template this resource created, never another template
  that happens to carry the same name;
* a create that finds the name taken fails with one line and leaves a physical
  ID that no delete acts on (CloudFormation's rollback deletes nothing); a
  create that made the template but then failed removes it again (or, if that
  fails too, reports its ID so the rollback's delete removes it), so a retry
  never finds its own orphan under the name;
* an update changes in place what changed (name, content, description,
  repository), and recreates a template deleted out of band; it finds the
  template under the old or the new name, so the rollback of a refused rename
  succeeds;
* a delete of something already gone succeeds, so stack deletion is never blocked.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from contracts.aws_errors import aws_error_code, code_or_type

__all__ = ["NOT_CREATED_PREFIX", "TemplateProperties", "TemplateSetupError", "create", "delete", "update"]

# Physical ID of a create that made nothing: CloudFormation's rollback delete must not act on it.
NOT_CREATED_PREFIX = "not-created:"
_GONE = ("ApprovalRuleTemplateDoesNotExistException", "RepositoryDoesNotExistException")


class TemplateSetupError(RuntimeError):
    """A lifecycle step that cannot complete, with a one-line reason for the CloudFormation console.

    `physical_id`: the template a failed create left behind, if any, so CloudFormation's rollback deletes it.
    """

    def __init__(self, message: str, *, physical_id: str | None = None) -> None:
        super().__init__(message)
        self.physical_id = physical_id


@dataclass(frozen=True, kw_only=True)
class TemplateProperties:
    """The resource's properties as CloudFormation passes them."""

    name: str
    content: str
    description: str
    repository_name: str

    @classmethod
    def from_resource(cls, properties: Mapping[str, Any]) -> TemplateProperties:
        try:
            values = {
                key: properties[field]
                for key, field in (
                    ("name", "TemplateName"),
                    ("content", "Content"),
                    ("description", "Description"),
                    ("repository_name", "RepositoryName"),
                )
            }
        except KeyError as missing:
            raise TemplateSetupError(f"the resource property {missing.args[0]} is missing") from None
        if not all(isinstance(value, str) and value for key, value in values.items() if key != "description"):
            raise TemplateSetupError("TemplateName, Content and RepositoryName must be non-empty strings")
        return cls(**values)


def _template(codecommit: Any, name: str) -> dict[str, Any] | None:
    """The template named `name`, or None when there is none."""
    try:
        return dict(codecommit.get_approval_rule_template(approvalRuleTemplateName=name)["approvalRuleTemplate"])
    except Exception as error:  # noqa: BLE001 - only "does not exist" is an answer; anything else propagates
        if aws_error_code(error) in _GONE:
            return None
        raise


def _associate(codecommit: Any, name: str, repository_name: str) -> None:
    associated = codecommit.list_associated_approval_rule_templates_for_repository(repositoryName=repository_name)[
        "approvalRuleTemplateNames"
    ]
    if name not in associated:
        codecommit.associate_approval_rule_template_with_repository(approvalRuleTemplateName=name, repositoryName=repository_name)


def _ignoring_gone(call: Callable[..., Any], **parameters: Any) -> None:
    try:
        call(**parameters)
    except Exception as error:  # noqa: BLE001 - already gone is the goal; anything else propagates
        if aws_error_code(error) not in _GONE:
            raise


def create(codecommit: Any, new: TemplateProperties) -> str:
    """Create the template and associate it; return the physical ID (the template's ID)."""
    try:
        created = codecommit.create_approval_rule_template(
            approvalRuleTemplateName=new.name,
            approvalRuleTemplateContent=new.content,
            approvalRuleTemplateDescription=new.description,
        )["approvalRuleTemplate"]
    except Exception as error:  # noqa: BLE001 - a taken name is the user's to resolve; anything else propagates
        if aws_error_code(error) == "ApprovalRuleTemplateNameAlreadyExistsException":
            raise TemplateSetupError(
                f"an approval rule template named {new.name!r} already exists and was not created by this "
                "resource; delete it (CodeCommit > Approval rule templates) or choose another project_name",
            ) from None
        raise
    template_id = str(created["approvalRuleTemplateId"])
    try:
        _associate(codecommit, new.name, new.repository_name)
    except Exception as error:  # noqa: BLE001 - undone below, then reported in one line
        raise _undo_create(codecommit, template_id, new, error) from None
    return template_id


def _undo_create(codecommit: Any, template_id: str, new: TemplateProperties, cause: Exception) -> TemplateSetupError:
    """Remove the template a create made before failing, so no retry finds its own orphan under the name.

    If the removal fails too, the error carries the template's ID: CloudFormation's rollback deletes
    the failed resource by the physical ID the response reported ("When a CREATE operation fails,
    CloudFormation will automatically issue a DELETE operation with the PhysicalResourceId submitted by
    the FAILED response", aws/aws-cdk pull request 5525; not stated in the User Guide, so listed in the
    README as unproven offline), and `delete` acts on exactly that ID.
    """
    reason = f"created {new.name!r} but could not associate it with {new.repository_name!r} ({code_or_type(cause)}: {cause})"
    try:
        delete(codecommit, template_id, new)
    except Exception as undo_error:  # noqa: BLE001 - the rollback's delete retries it by the ID reported
        return TemplateSetupError(
            f"{reason}; removing it failed too ({code_or_type(undo_error)}), the rollback removes it",
            physical_id=template_id,
        )
    return TemplateSetupError(f"{reason}; removed it again")


def _ours(codecommit: Any, physical_id: str, *names: str) -> tuple[str, dict[str, Any]] | None:
    """The first of `names` that carries this resource's template (its ID is the physical ID), with the template."""
    for name in dict.fromkeys(names):
        current = _template(codecommit, name)
        if current is not None and str(current["approvalRuleTemplateId"]) == physical_id:
            return name, current
    return None


def update(codecommit: Any, physical_id: str, old: TemplateProperties, new: TemplateProperties) -> str:
    """Bring the template in line with `new`; return the (possibly new) physical ID.

    The template is looked up under the old name, then the new one: a rename CodeCommit refused leaves
    it under the name it had, and CloudFormation's rollback update then asks to go from the refused
    name back to that one.
    """
    found = _ours(codecommit, physical_id, old.name, new.name)
    if found is None:
        # Deleted out of band (or never created): make it anew under a new physical ID.
        return create(codecommit, new)
    name, current = found
    if new.name != name:
        codecommit.update_approval_rule_template_name(oldApprovalRuleTemplateName=name, newApprovalRuleTemplateName=new.name)
    if new.content != current.get("approvalRuleTemplateContent"):
        codecommit.update_approval_rule_template_content(
            approvalRuleTemplateName=new.name, newRuleContent=new.content, existingRuleContentSha256=current["ruleContentSha256"]
        )
    if new.description != current.get("approvalRuleTemplateDescription", ""):
        codecommit.update_approval_rule_template_description(
            approvalRuleTemplateName=new.name, approvalRuleTemplateDescription=new.description
        )
    # A renamed repository keeps its associations and a replaced one loses them when CloudFormation
    # deletes it, so only the repository the stack has now needs the association.
    _associate(codecommit, new.name, new.repository_name)
    return physical_id


def delete(codecommit: Any, physical_id: str, old: TemplateProperties) -> None:
    """Remove the association and the template this resource created; anything already gone is fine."""
    if physical_id.startswith(NOT_CREATED_PREFIX):
        return
    current = _template(codecommit, old.name)
    if current is None or str(current["approvalRuleTemplateId"]) != physical_id:
        return  # gone already, or another template now carries the name: not ours to delete
    _ignoring_gone(
        codecommit.disassociate_approval_rule_template_from_repository,
        approvalRuleTemplateName=old.name,
        repositoryName=old.repository_name,
    )
    _ignoring_gone(codecommit.delete_approval_rule_template, approvalRuleTemplateName=old.name)
