"""Post the pull-request checks' result on the pull request: a comment and an approval state.

Run by ``buildspecs/pull_request.yml`` in its post_build phase, after the
Build stage's checks. The pull request comes from the environment the
EventBridge rule sets (``PULL_REQUEST_ID``, ``REVISION_ID``, ``SOURCE_COMMIT``,
``DESTINATION_COMMIT``) and the CDK app (``REPOSITORY_NAME``). The approval is
given only when the checks succeeded; otherwise it is revoked. It applies to
the revision checked: a newer push needs its own checks.

Usage: ``python -m release_tools.pull_request_report --succeeded "$CODEBUILD_BUILD_SUCCEEDING"``
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import ReleaseToolError, run_cli

__all__ = ["PullRequest", "main", "post_result", "pull_request_from_env", "result_comment"]

_REQUIRED = ("REPOSITORY_NAME", "PULL_REQUEST_ID", "REVISION_ID", "SOURCE_COMMIT", "DESTINATION_COMMIT")


@dataclass(frozen=True, kw_only=True)
class PullRequest:
    """The pull request revision the checks ran on."""

    repository_name: str
    pull_request_id: str
    revision_id: str
    source_commit: str
    destination_commit: str


def pull_request_from_env(env: Mapping[str, str]) -> PullRequest:
    """Read the pull request from the build's environment; refuse if any part is missing."""
    missing = [name for name in _REQUIRED if not env.get(name, "").strip()]
    if missing:
        raise ReleaseToolError(f"environment variable(s) {', '.join(missing)} not set (the EventBridge rule sets them)")
    return PullRequest(
        repository_name=env["REPOSITORY_NAME"].strip(),
        pull_request_id=env["PULL_REQUEST_ID"].strip(),
        revision_id=env["REVISION_ID"].strip(),
        source_commit=env["SOURCE_COMMIT"].strip(),
        destination_commit=env["DESTINATION_COMMIT"].strip(),
    )


def result_comment(*, succeeded: bool, commit: str, build_url: str | None) -> str:
    """The Markdown comment posted on the pull request."""
    verdict = "passed" if succeeded else "FAILED"
    lines = [
        f"**Pull-request checks {verdict}** on commit `{commit[:12]}` "
        "(the Build stage's checks: ruff, the model's tests, release-policy.yaml validation, packaging).",
    ]
    lines.append("Approval from the checks: given." if succeeded else
                 "Approval from the checks: revoked. Fix the failures and push again.")
    if build_url:
        lines.append(f"Build log: {build_url}")
    return "\n\n".join(lines)


def post_result(codecommit: Any, pull_request: PullRequest, *, succeeded: bool, build_url: str | None) -> str:
    """Comment on the pull request, then set this role's approval state; returns the state set."""
    codecommit.post_comment_for_pull_request(
        pullRequestId=pull_request.pull_request_id,
        repositoryName=pull_request.repository_name,
        beforeCommitId=pull_request.destination_commit,
        afterCommitId=pull_request.source_commit,
        content=result_comment(succeeded=succeeded, commit=pull_request.source_commit, build_url=build_url),
    )
    state = "APPROVE" if succeeded else "REVOKE"
    codecommit.update_pull_request_approval_state(
        pullRequestId=pull_request.pull_request_id,
        revisionId=pull_request.revision_id,
        approvalState=state,
    )
    return state


def _succeeded(raw: str) -> bool:
    # CodeBuild sets CODEBUILD_BUILD_SUCCEEDING to 1 or 0; anything else is a failure (fail closed).
    return raw.strip() == "1"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="release_tools.pull_request_report", description=__doc__.splitlines()[0])
    parser.add_argument("--succeeded", required=True, help="CodeBuild's CODEBUILD_BUILD_SUCCEEDING (1 or 0)")
    args = parser.parse_args(argv)
    pull_request = pull_request_from_env(os.environ)
    import boto3

    succeeded = _succeeded(args.succeeded)
    state = post_result(boto3.client("codecommit"), pull_request, succeeded=succeeded,
                        build_url=os.environ.get("CODEBUILD_BUILD_URL"))
    print(f"pull request {pull_request.pull_request_id} revision {pull_request.revision_id}: "
          f"checks {'passed' if succeeded else 'failed'}, approval state {state}")
    # The build itself must fail when the checks did, so the console shows it too.
    return 0 if succeeded else 1


if __name__ == "__main__":
    sys.exit(run_cli("pull_request_report", main))
