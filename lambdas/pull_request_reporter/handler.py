"""Lambda entry point: post the pull-request checks' verdict on the pull request.

Invoked by EventBridge when a pull-request checks build ends. Only this
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

from gate_kit.structured_log import gate_logger, log_fields, quiet_sdk_debug_logs

from .pull_request_verdict import PullRequestVerdict, VerdictError, verdict_from_event

__all__ = ["handler", "post_verdict"]

_LOGGER = gate_logger("pull_request_reporter")


@functools.lru_cache(maxsize=1)
def _codecommit_client() -> Any:
    import boto3

    return boto3.client("codecommit")


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


def handler(event: Mapping[str, Any], context: Any, *, codecommit: Any | None = None,
            environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Lambda entry point: post the verdict and return what was posted, or `{"error": ...}` for a malformed event."""
    env = os.environ if environ is None else environ
    repository_name, project_name = env.get("REPOSITORY_NAME", ""), env.get("CHECKS_PROJECT_NAME", "")
    if not repository_name or not project_name:
        raise RuntimeError("REPOSITORY_NAME and CHECKS_PROJECT_NAME must be set in the function's configuration")
    quiet_sdk_debug_logs()
    try:
        verdict = verdict_from_event(event, project_name=project_name)
    except (VerdictError, TypeError, AttributeError) as error:  # a malformed event: nothing to post, one line
        problem = str(error).splitlines()[0][:500] if str(error) else type(error).__name__
        log_fields(_LOGGER, logging.ERROR, "event ignored: not a finished pull-request checks build", error=problem)
        return {"error": problem}
    post_verdict(codecommit or _codecommit_client(), repository_name, verdict)
    log_fields(_LOGGER, logging.INFO, "pull-request checks reported", pull_request_id=verdict.pull_request_id,
               revision_id=verdict.revision_id, build_status=verdict.build_status, approval=verdict.approval_state)
    return {"pull_request_id": verdict.pull_request_id, "approval_state": verdict.approval_state}
