"""What to post on a pull request when its checks' build ends (pure: no boto3, no environment reads).

The input is EventBridge's `CodeBuild Build State Change` event for the
pull-request checks project. The pull request's identity travels in the
build's environment variables, which the platform's EventBridge rule set
when it started the build (the build itself cannot change them).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["FINAL_STATES", "MAX_COMMENT_CHARS", "PullRequestVerdict", "VerdictError", "verdict_from_event"]

MAX_COMMENT_CHARS = 10_240
"""CodeCommit's limit on a comment: "Comments are limited to 10,240 characters"
(`CommentContentSizeLimitExceededException`, and the CodeCommit quotas page). botocore's
model gives the `Content` shape no `max`, so the service, not the SDK, would refuse a longer one."""
_MAX_FIELD_CHARS = 2_000
"""Any one value taken from the event (phase name, log link) is shortened to this."""

# Build states that end a build; SUCCEEDED is the only passing one.
FINAL_STATES = ("SUCCEEDED", "FAILED", "FAULT", "STOPPED", "TIMED_OUT")
_IDENTITY = {
    "pull_request_id": "PULL_REQUEST_ID",
    "revision_id": "REVISION_ID",
    "source_commit": "SOURCE_COMMIT",
    "destination_commit": "DESTINATION_COMMIT",
}
_CHECKS = "ruff, the model's tests, release-policy.yaml validation, packaging"


class VerdictError(ValueError):
    """The event is not a finished pull-request checks build with a complete pull-request identity."""


@dataclass(frozen=True, kw_only=True)
class PullRequestVerdict:
    """One finished build's verdict on one pull-request revision."""

    pull_request_id: str
    revision_id: str
    source_commit: str
    destination_commit: str
    build_status: str
    failed_phase: str | None
    logs_url: str | None

    @property
    def passed(self) -> bool:
        return self.build_status == "SUCCEEDED"

    @property
    def approval_state(self) -> str:
        """APPROVE only for a passing build; anything else revokes (fail closed)."""
        return "APPROVE" if self.passed else "REVOKE"

    def comment(self) -> str:
        """The Markdown comment posted on the pull request."""
        commit = f"`{self.source_commit[:12]}`"
        if self.passed:
            lines = [f"**Pull-request checks passed** on commit {commit} ({_CHECKS}).", "Approval from the checks: given."]
        else:
            where = f" in phase {self.failed_phase}" if self.failed_phase else ""
            lines = [
                f"**Pull-request checks {self.build_status}**{where} on commit {commit} ({_CHECKS}).",
                "Approval from the checks: revoked. Fix the failures and push again.",
            ]
        if self.logs_url:
            lines.append(f"Build log: {self.logs_url}")
        text = "\n\n".join(lines)
        return text if len(text) <= MAX_COMMENT_CHARS else text[: MAX_COMMENT_CHARS - 16] + " … [truncated]"


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise VerdictError(f"{where} is missing or not an object")
    return value


def verdict_from_event(event: Any, *, project_name: str) -> PullRequestVerdict:
    """The verdict for a `CodeBuild Build State Change` event of `project_name` (raises VerdictError)."""
    detail = _mapping(_mapping(event, "the event").get("detail"), "detail")
    if detail.get("project-name") != project_name:
        raise VerdictError(f"build of project {detail.get('project-name')!r}, not of {project_name!r}")
    status = detail.get("build-status")
    if status not in FINAL_STATES:
        raise VerdictError(f"build-status {status!r} is not a final state ({', '.join(FINAL_STATES)})")
    info = _mapping(detail.get("additional-information"), "detail.additional-information")
    environment = _mapping(info.get("environment"), "detail.additional-information.environment")
    variables = environment.get("environment-variables")
    if not isinstance(variables, list):
        raise VerdictError("detail.additional-information.environment.environment-variables is not a list")
    values = {v.get("name"): v.get("value") for v in variables if isinstance(v, Mapping) and v.get("type") == "PLAINTEXT"}
    identity: dict[str, str] = {}
    for field_name, variable in _IDENTITY.items():
        value = values.get(variable)
        if not isinstance(value, str) or not value.strip():
            raise VerdictError(f"environment variable {variable} is missing from the build (the EventBridge rule sets it)")
        identity[field_name] = value.strip()
    phases = info.get("phases")
    failed = [
        p.get("phase-type")
        for p in (phases if isinstance(phases, list) else [])
        if isinstance(p, Mapping) and p.get("phase-status") not in (None, "SUCCEEDED")
    ]
    logs = info.get("logs")
    logs_url = logs.get("deep-link") if isinstance(logs, Mapping) and isinstance(logs.get("deep-link"), str) else None
    return PullRequestVerdict(
        **{name: value[:_MAX_FIELD_CHARS] for name, value in identity.items()},
        build_status=str(status),
        failed_phase=str(failed[0])[:_MAX_FIELD_CHARS] if failed else None,
        logs_url=logs_url[:_MAX_FIELD_CHARS] if logs_url else None,
    )
