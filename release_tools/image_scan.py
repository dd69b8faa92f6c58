"""The image gate: wait for ECR's scan of a pushed image, then judge its findings against the policy.

Run by `buildspecs/image.yml` after `docker push`::

    python -m release_tools.image_scan --repository NAME --digest sha256:... --image-uri URI \\
        --policy release-policy.json --out image.json

The bound is `image.max_severity` of the release policy, merged with the
platform floor (`PLATFORM_FLOORS`): the stricter (lower) severity wins. An
image passes only when its scan completed and no finding is more severe than
the bound. A scan that does not complete within `--timeout-seconds`, a failed
or unsupported scan, or findings above the bound fail with one line that
names the worst findings. On success `image.json` records the image by digest.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contracts.aws_errors import aws_error_code
from contracts.platform_floors import FLOORS_VARIABLE, parse_platform_floors
from contracts.release_policy import IMAGE_SEVERITIES, PolicyError

from .errors import ReleaseToolError, run_cli

__all__ = [
    "DEFAULT_MAX_SEVERITY",
    "SCAN_TIMEOUT_SECONDS",
    "SEVERITIES",
    "ScanVerdict",
    "image_project_timeout_minutes",
    "judge_findings",
    "max_severity",
    "read_all_findings",
    "wait_for_scan",
]

# ECR's finding severities, least to most severe ("UNDEFINED" from basic scanning, "UNTRIAGED" from
# enhanced scanning: the scanner could not rate it; each is counted as MEDIUM so that an unrated finding
# never passes a MEDIUM-or-stricter bound unseen; any other unknown severity counts as CRITICAL).
SEVERITIES = IMAGE_SEVERITIES
_RANK = {name: rank for rank, name in enumerate(SEVERITIES)} | {"UNDEFINED": 2, "UNTRIAGED": 2}
DEFAULT_MAX_SEVERITY = "MEDIUM"
_DONE = "COMPLETE"
# Enhanced scanning (Amazon Inspector) reports ACTIVE, not COMPLETE, for an image it keeps monitoring
# (continuous scanning). ACTIVE counts as done only once the answer carries a completed scan
# (`imageScanCompletedAt` or severity counts); until then the gate keeps waiting. ECR's user guide:
# "You can retrieve the scan findings for the last completed enhanced image scan".
_MONITORED = "ACTIVE"
# Findings are read page by page (DescribeImageScanFindings' `nextToken`), at most this many pages of 100.
MAX_FINDING_PAGES = 50
# The image gate waits this long for ECR's scan, then fails with one line.
SCAN_TIMEOUT_SECONDS = 900
# What the image project's build may take besides the scan wait: install, `docker build --pull` and push
# on SMALL compute. The project's CodeBuild timeout is both, so a slow build fails with the gate's own
# one-line reason rather than CodeBuild's timeout.
IMAGE_BUILD_ALLOWANCE_MINUTES = 45


def image_project_timeout_minutes() -> int:
    """The image project's CodeBuild timeout: the build allowance plus the longest scan wait."""
    return IMAGE_BUILD_ALLOWANCE_MINUTES + -(-SCAN_TIMEOUT_SECONDS // 60)


_STILL_RUNNING = ("IN_PROGRESS", "PENDING")


@dataclass(frozen=True)
class ScanVerdict:
    """Whether the image may be released, and why, in one line."""

    passed: bool
    reason: str
    counts: Mapping[str, int]


def max_severity(policy: Mapping[str, Any], floors: Mapping[str, Any]) -> str:
    """The stricter of the policy's and the floor's `image.max_severity` (default MEDIUM)."""
    bounds = []
    for source, document in (("release-policy.json", policy), ("PLATFORM_FLOORS", floors)):
        value = (document.get("image") or {}).get("max_severity")
        if value is None:
            continue
        if value not in SEVERITIES:
            raise ReleaseToolError(f"{source}: image.max_severity {value!r} is not one of {', '.join(SEVERITIES)}")
        bounds.append(value)
    return min(bounds, key=_RANK.__getitem__) if bounds else DEFAULT_MAX_SEVERITY


def _floors(environ: Mapping[str, str]) -> Mapping[str, Any]:
    """The platform floors (`contracts.platform_floors`, as the gates read them), `{}` for none."""
    try:
        floors = parse_platform_floors(environ.get(FLOORS_VARIABLE))
    except PolicyError as error:
        raise ReleaseToolError(str(error)) from None
    return floors.to_dict() if floors is not None else {}


def _finding_name(finding: Mapping[str, Any]) -> str:
    """A basic finding's `name`, or an enhanced finding's vulnerability ID (else its title)."""
    details = finding.get("packageVulnerabilityDetails") or {}
    return str(finding.get("name") or details.get("vulnerabilityId") or finding.get("title") or "?")[:100]


def judge_findings(scan: Mapping[str, Any], bound: str) -> ScanVerdict:
    """Judge a `DescribeImageScanFindings` answer (basic or enhanced findings) whose scan completed."""
    findings = scan.get("imageScanFindings") or {}
    listed = [*(findings.get("findings") or []), *(findings.get("enhancedFindings") or [])]
    counts = {str(k): int(v) for k, v in (findings.get("findingSeverityCounts") or {}).items()}
    if not counts:  # no counts in the answer: count the findings themselves
        for finding in listed:
            counts[str(finding.get("severity", ""))] = counts.get(str(finding.get("severity", "")), 0) + 1
    above = {severity: n for severity, n in counts.items() if n and _RANK.get(severity, 4) > _RANK[bound]}
    if not above:
        total = sum(counts.values())
        return ScanVerdict(True, f"scan complete: {total} finding(s), none above {bound}", counts)
    worst = sorted(
        (f for f in listed if _RANK.get(f.get("severity", ""), 4) > _RANK[bound]),
        key=lambda f: -_RANK.get(f.get("severity", ""), 4),
    )
    named = ", ".join(f"{_finding_name(f)} ({f.get('severity')})" for f in worst[:3])
    summary = ", ".join(f"{n} {severity}" for severity, n in sorted(above.items(), key=lambda i: -_RANK.get(i[0], 4)))
    return ScanVerdict(False, f"image scan found {summary} above the bound {bound}: {named or 'see the ECR console'}", counts)


def _scan_done(state: str, answer: Mapping[str, Any]) -> bool:
    """COMPLETE (basic scanning), or ACTIVE with a completed scan in the answer (enhanced scanning)."""
    findings = answer.get("imageScanFindings") or {}
    return state == _DONE or (
        state == _MONITORED and bool(findings.get("imageScanCompletedAt") or findings.get("findingSeverityCounts"))
    )


def read_all_findings(ecr: Any, first: Mapping[str, Any], *, repository: str, digest: str) -> dict[str, Any]:
    """The first answer with the findings of every further page (so the worst are named from all of them)."""
    answer = dict(first)
    findings = dict(answer.get("imageScanFindings") or {})
    token, pages = answer.get("nextToken"), 1
    while token:
        if pages >= MAX_FINDING_PAGES:
            raise ReleaseToolError(
                f"the image scan of {digest} lists more than {MAX_FINDING_PAGES * 100} findings; "
                "the image is not released without reading them all"
            )
        try:
            page = ecr.describe_image_scan_findings(
                repositoryName=repository, imageId={"imageDigest": digest}, maxResults=100, nextToken=token
            )
        except Exception as error:  # noqa: BLE001 - one line naming the cause
            raise ReleaseToolError(f"DescribeImageScanFindings failed: {aws_error_code(error) or error}") from None
        more = page.get("imageScanFindings") or {}
        for key in ("findings", "enhancedFindings"):
            if more.get(key):
                findings[key] = [*(findings.get(key) or []), *more[key]]
        token, pages = page.get("nextToken"), pages + 1
    answer["imageScanFindings"] = findings
    answer.pop("nextToken", None)
    return answer


def wait_for_scan(
    ecr: Any,
    *,
    repository: str,
    digest: str,
    timeout_seconds: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    poll_seconds: float = 10.0,
) -> Mapping[str, Any]:
    """Poll until the scan completes; fail with one line when it fails or outlasts the timeout."""
    deadline = clock() + timeout_seconds
    while True:
        try:
            answer = ecr.describe_image_scan_findings(repositoryName=repository, imageId={"imageDigest": digest}, maxResults=100)
            status = answer.get("imageScanStatus", {})
        except Exception as error:  # noqa: BLE001 - only "not yet" is retried
            code = aws_error_code(error) or ""
            if code != "ScanNotFoundException":
                raise ReleaseToolError(f"DescribeImageScanFindings failed: {code or error}") from None
            answer, status = {}, {"status": "PENDING"}
        state = status.get("status", "")
        if _scan_done(state, answer):
            return dict(answer)
        if state not in (*_STILL_RUNNING, _MONITORED):
            raise ReleaseToolError(
                f"the image scan of {digest} ended {state or 'without a status'}: {status.get('description', 'no description')}"
            )
        if clock() + poll_seconds > deadline:
            raise ReleaseToolError(
                f"the image scan of {digest} did not complete within {int(timeout_seconds)} s "
                f"(status {state}); the image is not released unscanned"
            )
        sleep(poll_seconds)


def _json_file(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError) as error:
        raise ReleaseToolError(f"{path}: not a readable JSON object ({error})") from None


def main(argv: list[str] | None = None, *, ecr: Any | None = None, env: Mapping[str, str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m release_tools.image_scan", description=__doc__.splitlines()[0])
    parser.add_argument("--repository", required=True)
    parser.add_argument("--digest", required=True)
    parser.add_argument("--image-uri", required=True, help="the image by digest: <registry>/<repository>@sha256:...")
    parser.add_argument("--policy", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--timeout-seconds", type=float, default=float(SCAN_TIMEOUT_SECONDS))
    args = parser.parse_args(argv)
    environ = os.environ if env is None else env

    def run() -> int:
        if not args.digest.startswith("sha256:") or not args.image_uri.endswith("@" + args.digest):
            raise ReleaseToolError(f"--image-uri {args.image_uri!r} does not name the image by its digest {args.digest}")
        bound = max_severity(_json_file(args.policy), _floors(environ))
        import boto3

        client = ecr or boto3.client("ecr")
        first = wait_for_scan(client, repository=args.repository, digest=args.digest, timeout_seconds=args.timeout_seconds)
        scan = read_all_findings(client, first, repository=args.repository, digest=args.digest)
        verdict = judge_findings(scan, bound)
        if not verdict.passed:
            raise ReleaseToolError(verdict.reason)
        args.out.write_text(
            json.dumps(
                {
                    "image_uri": args.image_uri,
                    "digest": args.digest,
                    "max_severity": bound,
                    "finding_counts": dict(verdict.counts),
                    "scan": verdict.reason,
                },
                indent=2,
                sort_keys=True,
            )
            + "\n",
            encoding="utf-8",
        )
        print(f"image gate: {verdict.reason}; {args.image_uri}")
        return 0

    return run_cli("image gate", run)


if __name__ == "__main__":
    sys.exit(main())
