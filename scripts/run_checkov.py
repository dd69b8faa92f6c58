"""Run checkov over synthesized CloudFormation templates and summarize the result.

Usage: python -m scripts.run_checkov TEMPLATE.json [TEMPLATE.json ...]
Exits 1 when any check fails, listing each failure (check id, resource, file).
One checkov invocation covers every template (checkov takes seconds to start);
it runs offline (`--skip-download`) with the CloudFormation framework only.
Skips live in each resource's `Metadata: checkov: skip` with a comment.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "CheckovFinding",
    "CheckovResult",
    "checkov_executable",
    "main",
    "parse_checkov_report",
    "run_checkov",
    "run_checkov_report",
]


@dataclass(frozen=True)
class CheckovFinding:
    """One failed or skipped check on one resource."""

    check_id: str
    check_name: str
    resource: str
    file: str
    comment: str = ""

    def line(self) -> str:
        return f"{self.check_id} {self.resource} ({Path(self.file).name}): {self.check_name}"


@dataclass(frozen=True)
class CheckovResult:
    """checkov's verdict over a set of templates, and how long it took."""

    passed: int
    failed: tuple[CheckovFinding, ...]
    skipped: tuple[CheckovFinding, ...]
    resources: int
    seconds: float

    def summary(self) -> str:
        return (
            f"checkov: {self.passed} passed, {len(self.failed)} failed, {len(self.skipped)} skipped "
            f"over {self.resources} resources in {self.seconds:.1f} s"
        )


def checkov_executable() -> str:
    """The checkov beside this interpreter (the project's venv), else the one on PATH."""
    local = Path(sys.executable).parent / "checkov"
    found = str(local) if local.is_file() else shutil.which("checkov")
    if not found:
        raise FileNotFoundError("checkov is not installed (make setup installs it into .venv)")
    return found


def _findings(results: dict[str, Any], key: str) -> tuple[CheckovFinding, ...]:
    return tuple(
        CheckovFinding(
            check_id=item["check_id"],
            check_name=item.get("check_name", ""),
            resource=item["resource"],
            file=item.get("file_path", ""),
            comment=item.get("check_result", {}).get("suppress_comment", ""),
        )
        for item in results.get(key, [])
    )


def run_checkov(templates: Sequence[Path]) -> CheckovResult:
    """One checkov run over `templates` (framework cloudformation, offline); raises if checkov itself fails."""
    return parse_checkov_report(*run_checkov_report(templates))


def run_checkov_report(templates: Sequence[Path]) -> tuple[str, float]:
    """One checkov run over `templates`: its JSON report as text, and the seconds it took."""
    # Not --quiet: it drops the skipped checks (and their comments) from the JSON report.
    command = [checkov_executable(), "--framework", "cloudformation", "--compact", "--skip-download", "--output", "json"]
    for template in templates:
        command += ["--file", str(template)]
    started = time.monotonic()
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    seconds = time.monotonic() - started
    # checkov exits 1 when checks fail; anything else, or no JSON, is checkov failing.
    if completed.returncode not in (0, 1) or not completed.stdout.strip():
        raise RuntimeError(f"checkov exited {completed.returncode}: {completed.stderr.strip()[-2000:]}")
    return completed.stdout, seconds


def parse_checkov_report(report: str, seconds: float, *, files: Sequence[Path] | None = None) -> CheckovResult:
    """The verdict in a checkov JSON report; with `files`, the verdict on those templates alone (one run
    over many templates judged per template): `resources` then counts the resources checkov judged."""
    reports = json.loads(report)
    reports = reports if isinstance(reports, list) else [reports]
    wanted = None if files is None else {form for file in files for form in (os.path.abspath(file), str(Path(file).resolve()))}
    passed, resources = 0, 0
    failed: list[CheckovFinding] = []
    skipped: list[CheckovFinding] = []
    for found in reports:
        if found.get("check_type") != "cloudformation":
            continue
        summary = found.get("summary", {})
        if summary.get("parsing_errors"):
            raise RuntimeError(f"checkov could not parse {summary['parsing_errors']} template(s)")
        if "results" not in found:
            continue
        results = _in_files(found["results"], wanted)
        if wanted is None:
            passed += summary.get("passed", 0)
            resources += summary.get("resource_count", 0)
        else:
            passed += len(results.get("passed_checks", []))
            resources += len({(item["file_abs_path"], item["resource"]) for items in results.values() for item in items})
        failed += _findings(results, "failed_checks")
        skipped += _findings(results, "skipped_checks")
    return CheckovResult(passed=passed, failed=tuple(failed), skipped=tuple(skipped), resources=resources, seconds=seconds)


def _in_files(results: dict[str, Any], wanted: set[str] | None) -> dict[str, Any]:
    """The check results of a report on the templates in `wanted` (absolute paths; None: all)."""
    if wanted is None:
        return results
    kinds = ("passed_checks", "failed_checks", "skipped_checks")
    return {kind: [item for item in results.get(kind, []) if item.get("file_abs_path") in wanted] for kind in kinds}


def main(argv: Sequence[str] | None = None) -> int:
    paths = [Path(arg) for arg in (sys.argv[1:] if argv is None else argv)]
    if not paths:
        print(__doc__.splitlines()[2], file=sys.stderr)
        return 2
    result = run_checkov(paths)
    print(result.summary())
    for finding in result.failed:
        print(f"  FAILED  {finding.line()}")
    for finding in result.skipped:
        print(f"  skipped {finding.line()}: {finding.comment}")
    return 1 if result.failed else 0


if __name__ == "__main__":
    sys.exit(main())
