"""Texts and variables that embed configuration values, built in one place so the configuration can measure them.

The stacks build their CodeBuild descriptions and the gate functions'
environments with these functions; `stacks.config` calls the same functions
with the longest possible values to refuse, at synth, a configuration that the
service would refuse at deploy time.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

__all__ = [
    "CODEBUILD_DESCRIPTION_MAX",
    "KMS_KEY_ARN_LONGEST",
    "LAMBDA_ENVIRONMENT_MAX_BYTES",
    "PULL_REQUEST_CHECKS_BUILDSPEC",
    "RECORD_PREFIX",
    "S3_BUCKET_NAME_MAX",
    "codebuild_description",
    "floors_gate_environment",
    "gate_environment",
    "host_pull_request_checks_summary",
    "lambda_environment_size",
    "pull_request_checks_summary",
    "status_context",
]

# botocore's codebuild model: shape ProjectDescription {"min": 0, "max": 255}.
CODEBUILD_DESCRIPTION_MAX = 255
# Lambda quotas: "Function environment variables: 4 KB, for all environment variables
# associated with the function, in aggregate".
LAMBDA_ENVIRONMENT_MAX_BYTES = 4096
# S3 bucket naming rules: "Bucket names must be between 3 (min) and 63 (max) characters long."
S3_BUCKET_NAME_MAX = 63
# The longest ARN the stack's own KMS key can have: the longest partition and region in botocore's
# endpoints data, and a key id (a UUID).
KMS_KEY_ARN_LONGEST = "arn:aws-us-gov:kms:ap-southeast-7:123456789012:key/" + "0" * 36
RECORD_PREFIX = "decision-records/"
PULL_REQUEST_CHECKS_BUILDSPEC = "pull_request.yml"


def codebuild_description(summary: str, buildspec: str) -> str:
    """A build project's description: what it does, and the buildspec file it runs."""
    return f"{summary} Buildspec: buildspecs/{buildspec}."


def pull_request_checks_summary(*, project_name: str, release_branch: str) -> str:
    """What the pull-request checks project does (the only build description that names the branch)."""
    return (
        f"{project_name} pull-request checks: the Build stage's checks on a pull request into "
        f"{release_branch}, result posted on the pull request."
    )


def status_context(project_name: str) -> str:
    """The name of the commit status the checks post on an external host (the one branch protection requires)."""
    return f"{project_name}/pull-request-checks"


def host_pull_request_checks_summary(*, project_name: str, release_branch: str, provider_type: str) -> str:
    """What the pull-request checks project does for a repository on GitHub, GitLab or Bitbucket.

    The status's name (`status_context`) is left out: with it, a 32-character project name on
    GitHubEnterpriseServer left room for a branch of 2 characters in CodeBuild's 255.
    """
    return (
        f"{project_name} pull-request checks: the Build stage's checks on a pull request into "
        f"{release_branch} on {provider_type}, reported as a commit status."
    )


def gate_environment(*, record_bucket: str, record_kms_key_arn: str) -> dict[str, str]:
    """The variables every gate function gets: where decision records go, and the key they are written with."""
    return {"RECORD_BUCKET": record_bucket, "RECORD_PREFIX": RECORD_PREFIX, "RECORD_KMS_KEY_ARN": record_kms_key_arn}


def floors_gate_environment(
    *,
    record_bucket: str,
    record_kms_key_arn: str,
    platform_floors_json: str,
    staging_probe_json: str | None = None,
    chain_of_custody: bool = False,
) -> dict[str, str]:
    """The variables of the gates that judge against the platform floors (the staging gate also gets its probe;
    the evaluation gate, which records the chain of custody, `CHAIN_OF_CUSTODY=required`)."""
    variables = {
        **gate_environment(record_bucket=record_bucket, record_kms_key_arn=record_kms_key_arn),
        "PLATFORM_FLOORS": platform_floors_json,
    }
    if chain_of_custody:
        variables["CHAIN_OF_CUSTODY"] = "required"  # lambdas/function_kit/custody.py: MODE_REQUIRED
    if staging_probe_json is not None:
        variables["STAGING_PROBE"] = staging_probe_json
    return variables


def lambda_environment_size(variables: Mapping[str, str]) -> int:
    """The size Lambda measures against its 4 KB quota, counted conservatively.

    Lambda's refusal quotes the variables as one compact JSON object ("String
    measured: {...}"): keys, values, quotes and escapes all count, in UTF-8.
    """
    return len(json.dumps(dict(variables), separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
