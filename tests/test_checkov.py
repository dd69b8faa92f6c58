"""checkov over the session's synthesized templates: zero failed checks, every skip justified and in use."""

from __future__ import annotations

from typing import Any

import pytest

from scripts.run_checkov import CheckovResult
from tests.synthesis_fixtures import SynthesizedApp
from tests.template_scans import TemplateScans

_FILES = {"pipeline": "Pipeline.template.json", "staging": "staging.template.json", "production": "production.template.json"}


@pytest.fixture(scope="module")
def checkov(synthesized: SynthesizedApp, template_scans: TemplateScans) -> CheckovResult:
    # One checkov run covers every scanned variant (tests/template_scans.py); this is its verdict on the default app.
    result = template_scans.checkov([synthesized.paths[name] for name in _FILES])
    print(result.summary())  # shown with -s or on failure: the scanner's cost and counts
    return result


def declared_skips(synthesized: SynthesizedApp) -> set[tuple[str, str, str]]:
    """(template file, Type.LogicalId, check id) of every skip written into the templates' metadata."""
    found: set[tuple[str, str, str]] = set()
    for name, file in _FILES.items():
        resources: dict[str, Any] = synthesized.templates[name].get("Resources", {})
        for logical_id, resource in resources.items():
            for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
                found.add((file, f"{resource['Type']}.{logical_id}", skip["id"]))
    return found


def test_checkov_finds_no_failed_check(checkov: CheckovResult) -> None:
    assert checkov.resources > 50, checkov.summary()
    assert not checkov.failed, checkov.summary() + "\n" + "\n".join(f.line() for f in checkov.failed)


def test_every_skip_carries_a_real_reason(checkov: CheckovResult) -> None:
    vague = [f.line() for f in checkov.skipped if len(f.comment.split()) < 8]
    assert checkov.skipped and not vague, f"skips without a reviewer-grade reason: {vague}"


def test_every_declared_skip_matches_a_check_checkov_ran(synthesized: SynthesizedApp, checkov: CheckovResult) -> None:
    # A skip with a wrong id (or on a resource the check does not cover) silently skips nothing.
    used = {(f.file.rsplit("/", 1)[-1], f.resource, f.check_id) for f in checkov.skipped}
    assert declared_skips(synthesized) == used
