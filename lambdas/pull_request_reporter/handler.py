"""Lambda entry point: post the pull-request checks' verdict on the pull request.

Invoked by EventBridge when a pull-request checks build ends. Before it posts,
it confirms the build's provenance (build_provenance.py): the platform's
EventBridge rule started it (the build's initiator, from the event and from
BatchGetBuilds) and it checked the pull request's current source commit and
revision (GetPullRequest); otherwise it refuses in one logged line and posts
nothing. Only this
function's role may comment and approve on the repository; the build that runs
the pull request's own code holds no such permission, so that code can
neither approve its own revision nor touch another pull request. Never logs
the event. A malformed event (not a finished checks build of this project, or
without the pull request's identity) is logged as one line of error and
answered with `{"error": ...}`: there is nothing to post, and raising would
only add a traceback. A failed CodeCommit call raises, so the invocation is
visible as an error (no retries are configured: a comment is never posted twice).
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Mapping
from typing import Any

from function_kit.structured_log import gate_logger, log_fields, quiet_sdk_debug_logs

from .build_provenance import ProvenanceError, build_id_of, confirm_provenance
from .pull_request_verdict import PullRequestVerdict, VerdictError, verdict_from_event

__all__ = ["handler", "post_verdict"]

_LOGGER = gate_logger("pull_request_reporter")


@functools.lru_cache(maxsize=2)
def _client(service: str) -> Any:
    import boto3

    return boto3.client(service)


def _provenance(
    event: Mapping[str, Any], verdict: PullRequestVerdict, *, codecommit: Any, codebuild: Any, rule_name: str
) -> None:
    """Raise ProvenanceError unless the platform's rule started the build on the pull request's current commit."""
    builds = codebuild.batch_get_builds(ids=[build_id_of(event)]).get("builds") or []
    if len(builds) != 1:
        raise ProvenanceError(f"BatchGetBuilds does not know build {build_id_of(event)!r}")
    pull_request = codecommit.get_pull_request(pullRequestId=verdict.pull_request_id)["pullRequest"]
    confirm_provenance(verdict, event=event, build=builds[0], pull_request=pull_request, rule_name=rule_name)


def post_verdict(codecommit: Any, repository_name: str, verdict: PullRequestVerdict) -> None:
    """Comment on the pull request, then set this function's approval state for the revision checked."""
    codecommit.post_comment_for_pull_request(
        pullRequestId=verdict.pull_request_id,
        repositoryName=repository_name,
        beforeCommitId=verdict.destination_commit,
        afterCommitId=verdict.source_commit,
        content=verdict.comment(),
    )
    codecommit.update_pull_request_approval_state(
        pullRequestId=verdict.pull_request_id,
        revisionId=verdict.revision_id,
        approvalState=verdict.approval_state,
    )


def handler(
    event: Mapping[str, Any],
    context: Any,
    *,
    codecommit: Any | None = None,
    codebuild: Any | None = None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Lambda entry point: post the verdict and return what was posted, or `{"error": ...}` for a malformed event."""
    env = os.environ if environ is None else environ
    repository_name, project_name = env.get("REPOSITORY_NAME", ""), env.get("CHECKS_PROJECT_NAME", "")
    rule_name = env.get("CHECKS_RULE_NAME", "")
    if not repository_name or not project_name or not rule_name:
        raise RuntimeError(
            "REPOSITORY_NAME, CHECKS_PROJECT_NAME and CHECKS_RULE_NAME must be set in the function's configuration"
        )
    quiet_sdk_debug_logs()
    try:
        verdict = verdict_from_event(event, project_name=project_name)
    except (VerdictError, TypeError, AttributeError) as error:  # a malformed event: nothing to post, one line
        problem = str(error).splitlines()[0][:500] if str(error) else type(error).__name__
        log_fields(_LOGGER, logging.ERROR, "event ignored: not a finished pull-request checks build", error=problem)
        return {"error": problem}
    codecommit = codecommit or _client("codecommit")
    try:
        _provenance(event, verdict, codecommit=codecommit, codebuild=codebuild or _client("codebuild"), rule_name=rule_name)
    except ProvenanceError as refused:
        log_fields(
            _LOGGER,
            logging.WARNING,
            f"pull-request checks verdict refused: {refused}",
            pull_request_id=verdict.pull_request_id,
            revision_id=verdict.revision_id,
        )
        return {"pull_request_id": verdict.pull_request_id, "refused": str(refused)}
    post_verdict(codecommit, repository_name, verdict)
    log_fields(
        _LOGGER,
        logging.INFO,
        "pull-request checks reported",
        pull_request_id=verdict.pull_request_id,
        revision_id=verdict.revision_id,
        build_status=verdict.build_status,
        approval=verdict.approval_state,
    )
    return {"pull_request_id": verdict.pull_request_id, "approval_state": verdict.approval_state}
