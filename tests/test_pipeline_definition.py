"""`make deploy` says when it changes the pipeline's definition (CodePipeline then cannot roll DeployProd back
automatically until a release succeeds again): offline, from the synthesized assembly (issue 19)."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from scripts.pipeline_definition import check, fingerprints, main, record
from tests.synthesis_fixtures import ROOT, SynthesizedApp


@pytest.fixture
def assembly(synthesized: SynthesizedApp, tmp_path: Path) -> Path:
    """A copy of the session's real cloud assembly (manifest and pipeline template) that a test may change."""
    copy = tmp_path / "cdk.out"
    copy.mkdir()
    shutil.copy(synthesized.outdir / "manifest.json", copy)
    shutil.copy(synthesized.paths["pipeline"], copy)
    return copy


def _change_pipeline(assembly: Path) -> None:
    (template_path,) = assembly.glob("*.template.json")
    template = json.loads(template_path.read_text())
    (pipeline,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::CodePipeline::Pipeline"]
    pipeline["Properties"]["Stages"][-1]["Name"] = "PromoteRenamed"
    template_path.write_text(json.dumps(template))


def test_the_real_assembly_has_one_pipeline_under_its_stack_name(assembly: Path) -> None:
    assert list(fingerprints(assembly)) == ["ml-cicd-pipeline"]


def test_first_deploy_unchanged_and_changed_definitions_are_told_apart(assembly: Path, tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    (first,) = check(assembly, state)
    assert "no earlier deploy recorded" in first and "current pipeline structure version" in first
    record(assembly, state)
    (same,) = check(assembly, state)
    assert "unchanged since the last deploy" in same and "NOTICE" not in same
    _change_pipeline(assembly)
    (changed,) = check(assembly, state)
    assert changed.startswith("NOTICE: this deploy changes the pipeline definition of ml-cicd-pipeline")
    assert "cannot roll back automatically" in changed and "release_tools.rollback" in changed


def test_other_resources_do_not_count_as_a_pipeline_change(assembly: Path, tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    record(assembly, state)
    (template_path,) = assembly.glob("*.template.json")
    template = json.loads(template_path.read_text())
    template["Outputs"]["Extra"] = {"Value": "x"}
    template_path.write_text(json.dumps(template))
    assert "unchanged" in check(assembly, state)[0]


def test_a_missing_assembly_or_a_broken_record_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(tmp_path / "nowhere")]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    state = tmp_path / "state.json"
    state.write_text("{not json")
    (tmp_path / "cdk.out").mkdir()
    assert main(["check", str(tmp_path / "cdk.out"), "--state", str(state)]) == 2


def test_make_deploy_checks_before_deploying_that_assembly_and_records_after() -> None:
    dry_run = subprocess.run(["make", "-n", "deploy"], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True)
    lines = [
        line
        for line in dry_run.stdout.splitlines()
        if "cdk synth" in line or "pipeline_definition" in line or "cdk deploy" in line
    ]
    # Judge the words after the program's own path: a clone under a folder named like a step must not count as one.
    words = [set(shlex.split(line)[1:]) for line in lines]
    assert [
        ("synth" in step, "check" in step, "deploy" in step and "--app" in step and "cdk.out" in step, "record" in step)
        for step in words
    ] == [
        (True, False, False, False),
        (False, True, False, False),
        (False, False, True, False),
        (False, False, False, True),
    ]
