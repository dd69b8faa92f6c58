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

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from function_kit.clients import client_of
from function_kit.pipeline_function import FunctionSteps
from function_kit.structured_log import gate_logger, log_fields, quiet_sdk_debug_logs

from .build_provenance import ProvenanceError, build_id_of, confirm_provenance
from .pull_request_verdict import PullRequestVerdict, VerdictError, verdict_from_event

__all__ = ["handler", "post_verdict", "reporter_steps"]

_LOGGER = gate_logger("pull_request_reporter")


@dataclass(frozen=True)
class _Settings:
    """The function's configuration (set by the pull-request checks construct)."""

    repository_name: str
    project_name: str
    rule_name: str

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> _Settings:
        settings = cls(
            environ.get("REPOSITORY_NAME", ""), environ.get("CHECKS_PROJECT_NAME", ""), environ.get("CHECKS_RULE_NAME", "")
        )
        if not settings.repository_name or not settings.project_name or not settings.rule_name:
            raise RuntimeError(
                "REPOSITORY_NAME, CHECKS_PROJECT_NAME and CHECKS_RULE_NAME must be set in the function's configuration"
            )
        return settings


@dataclass(frozen=True)
class _Inputs:
    """The verdict the event carries (or why it is malformed) and the records that confirm its provenance."""

    event: Mapping[str, Any]
    verdict: PullRequestVerdict | None = None
    malformed: str | None = None
    unknown_build: str | None = None
    build: Mapping[str, Any] | None = None
    pull_request: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class _Decision:
    """Post `verdict`, or refuse it (`refused`), or ignore a malformed event (`malformed`)."""

    verdict: PullRequestVerdict | None
    malformed: str | None = None
    refused: str | None = None


def _read(event: Mapping[str, Any], settings: _Settings, codecommit: Callable[[], Any], codebuild: Callable[[], Any]) -> _Inputs:
    """The verdict from the event, the build's record (BatchGetBuilds) and the pull request's (GetPullRequest)."""
    try:
        verdict = verdict_from_event(event, project_name=settings.project_name)
    except (VerdictError, TypeError, AttributeError) as error:  # a malformed event: nothing to post, one line
        return _Inputs(event, malformed=str(error).splitlines()[0][:500] if str(error) else type(error).__name__)
    try:
        build_id = build_id_of(event)
    except ProvenanceError as error:
        return _Inputs(event, verdict, unknown_build=str(error))
    builds = codebuild().batch_get_builds(ids=[build_id]).get("builds") or []
    if len(builds) != 1:
        return _Inputs(event, verdict, unknown_build=f"BatchGetBuilds does not know build {build_id!r}")
    pull_request = codecommit().get_pull_request(pullRequestId=verdict.pull_request_id)["pullRequest"]
    return _Inputs(event, verdict, build=builds[0], pull_request=pull_request)


def _decide(inputs: _Inputs, settings: _Settings) -> _Decision:
    """Post only what the platform's rule started on the pull request's current commit (pure)."""
    if inputs.verdict is None:
        return _Decision(None, malformed=inputs.malformed)
    if inputs.unknown_build is not None or inputs.build is None or inputs.pull_request is None:
        return _Decision(inputs.verdict, refused=inputs.unknown_build)
    try:
        confirm_provenance(
            inputs.verdict, event=inputs.event, build=inputs.build, pull_request=inputs.pull_request, rule_name=settings.rule_name
        )
    except ProvenanceError as refused:
        return _Decision(inputs.verdict, refused=str(refused))
    return _Decision(inputs.verdict)


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


def _write(decision: _Decision, settings: _Settings, codecommit: Callable[[], Any]) -> dict[str, str]:
    """Post (or log why not) and return what was done."""
    verdict = decision.verdict
    if verdict is None:
        problem = decision.malformed or "malformed event"
        log_fields(_LOGGER, logging.ERROR, "event ignored: not a finished pull-request checks build", error=problem)
        return {"error": problem}
    if decision.refused is not None:
        log_fields(
            _LOGGER,
            logging.WARNING,
            f"pull-request checks verdict refused: {decision.refused}",
            pull_request_id=verdict.pull_request_id,
            revision_id=verdict.revision_id,
        )
        return {"pull_request_id": verdict.pull_request_id, "refused": decision.refused}
    post_verdict(codecommit(), settings.repository_name, verdict)
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


def reporter_steps(
    settings: _Settings, *, codecommit: Callable[[], Any], codebuild: Callable[[], Any]
) -> FunctionSteps[Mapping[str, Any], _Inputs, _Decision, dict[str, str]]:
    """The reporter's read → decide → write (`function_kit.pipeline_function`; EventBridge-invoked: no job to answer)."""
    return FunctionSteps(
        read=lambda event: _read(event, settings, codecommit, codebuild),
        decide=lambda inputs: _decide(inputs, settings),
        write=lambda _event, _inputs, decision: _write(decision, settings, codecommit),
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
    settings = _Settings.from_environment(os.environ if environ is None else environ)
    quiet_sdk_debug_logs()
    steps = reporter_steps(
        settings,
        codecommit=(lambda: codecommit) if codecommit is not None else client_of("codecommit"),
        codebuild=(lambda: codebuild) if codebuild is not None else client_of("codebuild"),
    )
    return steps.run(event)
