"""cfn-lint and checkov, each run once per test run over the templates of every scanned variant.

Both scanners take seconds to start, so one run of each covers the default app,
the cross-account app and the connection-source app (`SCANNED_VARIANTS`); each
test then judges the findings in its own variant's templates. The reports are
kept in the run's shared folder, so xdist workers scan once between them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from scripts.run_checkov import CheckovResult, parse_checkov_report, run_checkov_report
from tests.synthesis_fixtures import CROSS_ACCOUNT, DEFAULT, GITHUB_CONNECTION, SynthesizedApp, shared_once, variant_synthesis

__all__ = ["CFN_LINT", "CFN_LINT_IGNORED", "CfnLintReport", "TemplateScans", "session_scans"]

# W3005 (an obsolete DependsOn) is reported on DependsOn entries CDK generates itself.
CFN_LINT_IGNORED = ["W3005"]
CFN_LINT = Path(sys.executable).parent / "cfn-lint"
# cfn-lint's exit code is a bit mask of the levels it found: 2 error, 4 warning, 8 informational.
_CFN_LINT_FINDING_LEVELS = 2 | 4 | 8


def _same_files(paths: Iterable[Path]) -> set[str]:
    return {form for path in paths for form in (os.path.abspath(path), str(Path(path).resolve()))}


@dataclass(frozen=True)
class CfnLintReport:
    """One cfn-lint run (JSON format) over many templates."""

    findings: tuple[dict[str, Any], ...]
    returncode: int
    stderr: str

    def findings_in(self, paths: Iterable[Path]) -> list[dict[str, Any]]:
        """The findings in the templates at `paths`."""
        wanted = _same_files(paths)
        return [finding for finding in self.findings if finding["Filename"] in wanted]

    @property
    def ran_cleanly(self) -> bool:
        """cfn-lint itself did not fail: its exit code is explained by the findings it reported."""
        return self.returncode & ~_CFN_LINT_FINDING_LEVELS == 0 and (self.returncode == 0) == (not self.findings)


@dataclass(frozen=True)
class TemplateScans:
    """The two scanners' reports over every scanned variant's templates."""

    cfn_lint: CfnLintReport
    checkov_report: str
    checkov_seconds: float

    def checkov(self, paths: Iterable[Path]) -> CheckovResult:
        """checkov's verdict on the templates at `paths` alone."""
        return parse_checkov_report(self.checkov_report, self.checkov_seconds, files=list(paths))


def checkov_paths(config: pytest.Config) -> list[Path]:
    """The templates checkov scans: the default app's three, the cross-account pipeline and target
    stacks, the connection-source pipeline."""
    default = variant_synthesis(config, DEFAULT)
    cross_account = variant_synthesis(config, CROSS_ACCOUNT)
    github = variant_synthesis(config, GITHUB_CONNECTION)
    return [
        *(default.paths[name] for name in ("pipeline", "staging", "production")),
        *(cross_account.paths[name] for name in ("pipeline", "staging-target", "production-target")),
        github.paths["pipeline"],
    ]


def cfn_lint_paths(config: pytest.Config) -> list[Path]:
    """The templates cfn-lint scans: every template of the default and cross-account apps, the
    connection-source pipeline."""
    apps: list[SynthesizedApp] = [variant_synthesis(config, variant) for variant in (DEFAULT, CROSS_ACCOUNT)]
    return [
        *(path for app in apps for path in app.paths.values()),
        variant_synthesis(config, GITHUB_CONNECTION).paths["pipeline"],
    ]


_SCANS = pytest.StashKey[TemplateScans]()


def session_scans(config: pytest.Config) -> TemplateScans:
    """cfn-lint and checkov over every scanned variant, once per test run (see the module docstring)."""
    cached = config.stash.get(_SCANS, None)
    if cached is not None:
        return cached
    lint_paths, checkov_templates = cfn_lint_paths(config), checkov_paths(config)
    with shared_once(config, "template-scans") as folder:
        outcome = folder / "scans.json"  # written last: its presence means both scans are complete
        if not outcome.is_file():
            outcome.write_text(json.dumps(_scan(lint_paths, checkov_templates)))
    recorded = json.loads(outcome.read_text())
    lint = CfnLintReport(tuple(recorded["cfn_lint"]), recorded["cfn_lint_returncode"], recorded["cfn_lint_stderr"])
    config.stash[_SCANS] = TemplateScans(lint, recorded["checkov_report"], recorded["checkov_seconds"])
    return config.stash[_SCANS]


def _scan(lint_paths: list[Path], checkov_templates: list[Path]) -> dict[str, Any]:
    """Run both scanners at once (two processes: they overlap on two cores) and record their reports."""
    command = [str(CFN_LINT), "--format", "json", "--ignore-checks", *CFN_LINT_IGNORED, "--", *map(str, lint_paths)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as cfn_lint:
        checkov_report, checkov_seconds = run_checkov_report(checkov_templates)
        lint_stdout, lint_stderr = cfn_lint.communicate(timeout=300)
    return {
        "cfn_lint": json.loads(lint_stdout or "[]"),
        "cfn_lint_returncode": cfn_lint.returncode,
        "cfn_lint_stderr": lint_stderr[-3000:],
        "checkov_report": checkov_report,
        "checkov_seconds": checkov_seconds,
    }
