"""Whether a finished checks build may speak for a pull request (pure: no boto3, no environment reads).

A verdict counts only when the platform's own EventBridge rule started the
build and the build checked the pull request's current source commit. A
person allowed to call `codebuild:StartBuild` could otherwise start the checks
project with their own environment (another pull request's identity) or
buildspec override (`exit 0`) and have the reporter approve. CodeBuild
records who started a build in the build's `initiator` ("The entity that
started the build", CodeBuild API reference, `Build.initiator`); a build that
an EventBridge rule starts records `rule/<rule name>`, a person's records their
user or role session name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .pull_request_verdict import PullRequestVerdict

__all__ = ["ProvenanceError", "build_id_of", "confirm_provenance", "trusted_initiator"]


class ProvenanceError(ValueError):
    """The build was not started by the platform's rule, or did not check the pull request's current commit."""


def trusted_initiator(rule_name: str) -> str:
    """The initiator CodeBuild records for a build started by the platform's EventBridge rule."""
    return f"rule/{rule_name}"


def build_id_of(event: Mapping[str, Any]) -> str:
    """The build's ID (`<project>:<uuid>`) from the event's `detail.build-id` (the build ARN)."""
    arn = str((event.get("detail") or {}).get("build-id") or "")
    _, separator, build_id = arn.partition(":build/")
    if not separator or not build_id:
        raise ProvenanceError(f"detail.build-id {arn!r} is not a CodeBuild build ARN")
    return build_id


def _initiator_of_event(event: Mapping[str, Any]) -> str:
    info = (event.get("detail") or {}).get("additional-information") or {}
    return str(info.get("initiator") or "") if isinstance(info, Mapping) else ""


def _check_build(verdict: PullRequestVerdict, build: Mapping[str, Any], *, expected: str, event_initiator: str) -> None:
    for where, initiator in (("event", event_initiator), ("BatchGetBuilds", str(build.get("initiator") or ""))):
        if initiator != expected:
            raise ProvenanceError(f"build initiator {initiator!r} ({where}) is not the platform's rule {expected!r}")
    built = {str(build.get(k)) for k in ("sourceVersion", "resolvedSourceVersion") if build.get(k)}
    if built != {verdict.source_commit}:
        raise ProvenanceError(f"the build checked {sorted(built)}, not the pull request's commit {verdict.source_commit}")


def _check_pull_request(verdict: PullRequestVerdict, pull_request: Mapping[str, Any]) -> None:
    number = verdict.pull_request_id
    if pull_request.get("pullRequestStatus") != "OPEN":
        raise ProvenanceError(f"pull request {number} is {pull_request.get('pullRequestStatus')!r}, not OPEN")
    if pull_request.get("revisionId") != verdict.revision_id:
        raise ProvenanceError(
            f"pull request {number} is at revision {pull_request.get('revisionId')!r}, "
            f"the build checked {verdict.revision_id!r} (a newer build reports)"
        )
    sources = [t.get("sourceCommit") for t in pull_request.get("pullRequestTargets") or [] if isinstance(t, Mapping)]
    if sources != [verdict.source_commit]:
        raise ProvenanceError(
            f"pull request {number} source commit is {sources}, the build checked {verdict.source_commit} (a newer build reports)"
        )


def confirm_provenance(
    verdict: PullRequestVerdict,
    *,
    event: Mapping[str, Any],
    build: Mapping[str, Any],
    pull_request: Mapping[str, Any],
    rule_name: str,
) -> None:
    """Raise ProvenanceError unless the rule started the build and it checked the pull request's current commit.

    `build` is the BatchGetBuilds record of the event's build, `pull_request`
    the GetPullRequest record of the verdict's pull request.
    """
    _check_build(verdict, build, expected=trusted_initiator(rule_name), event_initiator=_initiator_of_event(event))
    _check_pull_request(verdict, pull_request)
