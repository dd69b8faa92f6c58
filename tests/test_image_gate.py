"""The model image: its ECR repository and build (template), and the image gate (scan wait and severity verdict)."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from aws_cdk.assertions import Template
from botocore.stub import Stubber

from release_tools.errors import ReleaseToolError
from release_tools.image_scan import judge_findings, main, max_severity, wait_for_scan
from stacks.components.build_project import BUILDSPEC_DIR
from tests.synthesis_fixtures import SynthesizedApp

DIGEST = "sha256:" + "ab" * 32
URI = f"111122223333.dkr.ecr.eu-west-1.amazonaws.com/ml-cicd-model@{DIGEST}"


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def ecr() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("ecr", region_name="eu-west-1", aws_access_key_id="t", aws_secret_access_key="t")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def scan_answer(
    status: str, counts: dict[str, int] | None = None, findings: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "repositoryName": "ml-cicd-model",
        "imageId": {"imageDigest": DIGEST},
        "imageScanStatus": {"status": status, "description": "x"},
    }
    if counts is not None:
        answer["imageScanFindings"] = {"findingSeverityCounts": counts, "findings": findings or []}
    return answer


def expect_scan(stubber: Stubber, answer: dict[str, Any]) -> None:
    stubber.add_response(
        "describe_image_scan_findings",
        answer,
        {"repositoryName": "ml-cicd-model", "imageId": {"imageDigest": DIGEST}, "maxResults": 100},
    )


def test_the_stricter_bound_wins_and_the_default_is_medium() -> None:
    assert max_severity({}, {}) == "MEDIUM"
    assert max_severity({"image": {"max_severity": "HIGH"}}, {"image": {"max_severity": "LOW"}}) == "LOW"
    assert max_severity({"image": {"max_severity": "LOW"}}, {"image": {"max_severity": "HIGH"}}) == "LOW"
    with pytest.raises(ReleaseToolError, match="image.max_severity 'SEVERE' is not one of"):
        max_severity({"image": {"max_severity": "SEVERE"}}, {})


def test_an_image_with_no_findings_passes() -> None:
    verdict = judge_findings(scan_answer("COMPLETE", {}), "MEDIUM")
    assert verdict.passed and verdict.reason == "scan complete: 0 finding(s), none above MEDIUM"


def test_findings_above_the_bound_fail_naming_the_worst() -> None:
    findings = [
        {"name": "CVE-2026-0001", "severity": "HIGH"},
        {"name": "CVE-2026-0002", "severity": "CRITICAL"},
        {"name": "CVE-2026-0003", "severity": "LOW"},
    ]
    verdict = judge_findings(scan_answer("COMPLETE", {"HIGH": 1, "CRITICAL": 1, "LOW": 1}, findings), "MEDIUM")
    assert not verdict.passed
    assert verdict.reason == (
        "image scan found 1 CRITICAL, 1 HIGH above the bound MEDIUM: CVE-2026-0002 (CRITICAL), CVE-2026-0001 (HIGH)"
    )
    assert judge_findings(scan_answer("COMPLETE", {"LOW": 3}), "MEDIUM").passed
    assert not judge_findings(scan_answer("COMPLETE", {"UNDEFINED": 1}), "LOW").passed


def test_the_wait_polls_until_complete(ecr) -> None:
    client, stubber = ecr
    clock = FakeClock()
    stubber.add_client_error("describe_image_scan_findings", service_error_code="ScanNotFoundException", http_status_code=400)
    expect_scan(stubber, scan_answer("IN_PROGRESS"))
    expect_scan(stubber, scan_answer("COMPLETE", {}))
    answer = wait_for_scan(client, repository="ml-cicd-model", digest=DIGEST, timeout_seconds=60, clock=clock, sleep=clock.sleep)
    assert answer["imageScanStatus"]["status"] == "COMPLETE" and clock.now == 20.0


def test_a_scan_that_never_completes_fails_within_the_bound(ecr) -> None:
    client, stubber = ecr
    clock = FakeClock()
    for _ in range(4):
        expect_scan(stubber, scan_answer("IN_PROGRESS"))
    with pytest.raises(ReleaseToolError, match="did not complete within 35 s"):
        wait_for_scan(client, repository="ml-cicd-model", digest=DIGEST, timeout_seconds=35, clock=clock, sleep=clock.sleep)
    assert clock.now <= 35


def test_a_failed_scan_fails_closed(ecr) -> None:
    client, stubber = ecr
    expect_scan(stubber, scan_answer("UNSUPPORTED_IMAGE"))
    with pytest.raises(ReleaseToolError, match="ended UNSUPPORTED_IMAGE"):
        wait_for_scan(client, repository="ml-cicd-model", digest=DIGEST, timeout_seconds=60)


def test_the_command_writes_the_image_by_digest_or_fails_with_one_line(ecr, tmp_path: Path, capsys) -> None:
    client, stubber = ecr
    policy = tmp_path / "release-policy.json"
    policy.write_text(json.dumps({"version": 1, "image": {"max_severity": "HIGH"}}))
    out = tmp_path / "image.json"
    args = ["--repository", "ml-cicd-model", "--digest", DIGEST, "--image-uri", URI, "--policy", str(policy), "--out", str(out)]
    expect_scan(stubber, scan_answer("COMPLETE", {"HIGH": 2}))
    assert main(args, ecr=client, env={"PLATFORM_FLOORS": json.dumps({"version": 1, "image": {"max_severity": "CRITICAL"}})}) == 0
    written = json.loads(out.read_text())
    assert written["image_uri"] == URI and written["max_severity"] == "HIGH"
    expect_scan(stubber, scan_answer("COMPLETE", {"HIGH": 2}))
    assert main(args, ecr=client, env={"PLATFORM_FLOORS": json.dumps({"version": 1, "image": {"max_severity": "MEDIUM"}})}) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("image gate: image scan found 2 HIGH")
    assert main([*args[:5], "latest", *args[6:]], ecr=client, env={}) == 1  # a tag is not a digest


@pytest.fixture(scope="module")
def template(synthesized: SynthesizedApp) -> Template:
    return Template.from_json(synthesized.pipeline)


def test_the_image_repository_is_encrypted_immutable_scanned_and_keeps_champions(template: Template) -> None:
    repositories = template.find_resources("AWS::ECR::Repository")
    ((logical_id, repository),) = repositories.items()
    props = repository["Properties"]
    assert props["ImageTagMutability"] == "IMMUTABLE"
    assert props["ImageScanningConfiguration"] == {"ScanOnPush": True}
    assert props["EncryptionConfiguration"]["EncryptionType"] == "KMS"
    assert repository["DeletionPolicy"] == "Retain"
    rules = json.loads(props["LifecyclePolicy"]["LifecyclePolicyText"])["rules"]
    assert rules[0]["rulePriority"] == 1 and rules[0]["selection"]["tagPrefixList"] == ["champion-"]
    assert rules[1]["selection"] == {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 20}


def test_only_the_image_build_is_privileged_and_it_runs_after_the_checks(synthesized: SynthesizedApp) -> None:
    projects = {
        k: r["Properties"] for k, r in synthesized.pipeline["Resources"].items() if r["Type"] == "AWS::CodeBuild::Project"
    }
    privileged = [k for k, p in projects.items() if p["Environment"].get("PrivilegedMode")]
    assert len(privileged) == 1 and privileged[0].startswith("ImageProject")
    (pipeline,) = [r for r in synthesized.pipeline["Resources"].values() if r["Type"] == "AWS::CodePipeline::Pipeline"]
    stages = {s["Name"]: s for s in pipeline["Properties"]["Stages"]}
    build = {a["Name"]: a for a in stages["Build"]["Actions"]}
    assert build["Image"]["RunOrder"] == 2 and build["Image"]["InputArtifacts"] == [{"Name": "BuildOutput"}]
    (train,) = stages["Train"]["Actions"]
    assert {"Name": "ImageOutput"} in train["InputArtifacts"]


def test_push_is_the_image_builds_and_pull_is_sagemakers(synthesized: SynthesizedApp) -> None:
    resources = synthesized.pipeline["Resources"]
    (repository_id,) = [k for k, r in resources.items() if r["Type"] == "AWS::ECR::Repository"]
    holders: dict[str, set[str]] = {}
    for logical_id, policy in resources.items():
        if policy["Type"] != "AWS::IAM::Policy":
            continue
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if json.dumps(statement.get("Resource")) == json.dumps({"Fn::GetAtt": [repository_id, "Arn"]}):
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                holders.setdefault(logical_id.split("Role")[0], set()).update(actions)
    assert "ecr:PutImage" in holders.pop("ImageProject")
    pull = {"ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"}
    assert holders.pop("SageMakerExecution") == pull  # the endpoints
    assert holders.pop("SageMakerExecutionJob") == pull  # the training and evaluation jobs (the repository's image)
    # The promotion adds a champion-* tag (a new tag on the same manifest; tags are immutable).
    assert holders.pop("Promote") == {"ecr:BatchGetImage", "ecr:PutImage"}
    assert not holders


def test_the_image_buildspec_runs_the_platform_gate_outside_the_commits_checkout() -> None:
    spec = yaml.safe_load((BUILDSPEC_DIR / "image.yml").read_text())
    script = "\n".join(spec["phases"]["build"]["commands"])
    assert "if [ ! -f Dockerfile ]" in script and '{"image_uri": null}' in script
    assert 'docker push "$IMAGE_REPOSITORY_URI:$SOURCE_REVISION"' in script
    assert 'PYTHONPATH="$PLATFORM_DIR" python -P -m release_tools.image_scan' in script
    assert spec["artifacts"] == {"base-directory": "image-output", "files": ["image.json"]}


def test_the_rehearsal_checks_the_example_dockerfile_and_finds_what_the_contract_needs(tmp_path: Path) -> None:
    from rehearsal.dockerfile_check import check_dockerfile

    example = Path(__file__).resolve().parents[1] / "examples" / "byoc" / "Dockerfile"
    assert check_dockerfile(example).passed
    broken = tmp_path / "Dockerfile"
    broken.write_text("# no base\nRUN pip install \\\n    scikit-learn\nCOPY serve /usr/local/bin/\nEXPOSE 80\n")
    problems = check_dockerfile(broken).problems
    assert problems == [
        "Dockerfile: the first instruction (after ARG) must be FROM, not RUN",
        "Dockerfile: EXPOSE 8080 is missing (SageMaker sends /ping and /invocations there)",
        "Dockerfile: nothing provides the `train` entry point (SageMaker runs `docker run <image> train`)",
    ]
    broken.write_text("FROM python:3.12\nRUN echo \\\n")
    assert check_dockerfile(broken).problems == ["Dockerfile: Dockerfile line 2: a continuation never ends"]


def test_one_severity_scale_in_the_image_gate_the_policy_parser_and_the_schema() -> None:
    from contracts.release_policy import IMAGE_SEVERITIES, PolicyError, parse_release_policy
    from release_tools.image_scan import SEVERITIES

    schema = json.loads((Path(__file__).resolve().parents[1] / "schemas" / "release-policy.v1.schema.json").read_text())
    assert SEVERITIES == IMAGE_SEVERITIES == tuple(schema["properties"]["image"]["properties"]["max_severity"]["enum"])
    assert parse_release_policy({"version": 1, "image": {"max_severity": "LOW"}}).to_dict()["image"] == {"max_severity": "LOW"}
    with pytest.raises(PolicyError, match="image.max_severity: 'SEVERE' is not one of"):
        parse_release_policy({"version": 1, "image": {"max_severity": "SEVERE"}})


def test_the_platform_floor_for_images_is_validated_at_synth() -> None:
    from stacks.config import ConfigError, load_config

    floors = {"version": 1, "image": {"max_severity": "HIGH"}}
    assert load_config({"ml-cicd": {"platform_floors": floors}}).platform_floors["image"] == {"max_severity": "HIGH"}
    with pytest.raises(ConfigError, match=r"platform_floors.image.max_severity: 'high' is not one of INFORMATIONAL"):
        load_config({"ml-cicd": {"platform_floors": {"version": 1, "image": {"max_severity": "high"}}}})


def test_the_image_project_outlasts_the_scan_wait_so_the_gate_not_codebuild_names_a_timeout(
    synthesized: SynthesizedApp,
) -> None:
    from release_tools.image_scan import IMAGE_BUILD_ALLOWANCE_MINUTES, SCAN_TIMEOUT_SECONDS, image_project_timeout_minutes

    (project,) = [
        r["Properties"]
        for k, r in synthesized.pipeline["Resources"].items()
        if r["Type"] == "AWS::CodeBuild::Project" and k.startswith("ImageProject")
    ]
    assert project["TimeoutInMinutes"] == image_project_timeout_minutes() == IMAGE_BUILD_ALLOWANCE_MINUTES + 15
    assert project["TimeoutInMinutes"] * 60 >= SCAN_TIMEOUT_SECONDS + IMAGE_BUILD_ALLOWANCE_MINUTES * 60


def test_the_dockerfile_check_accepts_aws_layouts_and_docker_syntax(tmp_path: Path) -> None:
    """Valid Dockerfiles are not blocked: a comment inside a continuation; `COPY <folder> /opt/program` plus PATH."""
    from rehearsal.dockerfile_check import check_dockerfile, parse_instructions

    assert parse_instructions("RUN apt-get update && \\\n    # the compiler\n\n    apt-get install -y gcc\n") == [
        (1, "RUN", "apt-get update &&  apt-get install -y gcc")
    ]
    (tmp_path / "program").mkdir()
    for entry in ("train", "serve"):
        (tmp_path / "program" / entry).write_text("#!/usr/bin/env python3\n")
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text('FROM python:3.12\nCOPY program /opt/program\nENV PATH="/opt/program:${PATH}"\nEXPOSE 8080\n')
    assert check_dockerfile(dockerfile).problems == []
    dockerfile.write_text("FROM python:3.12\nCOPY program /opt/program\nEXPOSE 8080\n")
    assert check_dockerfile(dockerfile).problems == [
        f'Dockerfile: `{entry}` is copied to /opt/program, which is not on PATH (add ENV PATH="/opt/program:${{PATH}}"; '
        f"SageMaker runs `docker run <image> {entry}`)"
        for entry in ("train", "serve")
    ]
    dockerfile.write_text(
        "FROM python:3.12\nWORKDIR /opt/program\nCOPY program/train program/serve ./\nENV PATH /opt/program:$PATH\nEXPOSE 8080\n"
    )
    assert check_dockerfile(dockerfile).passed
    dockerfile.write_text("FROM python:3.12\nCOPY run.py /usr/local/bin/train\nCOPY serve.py /usr/bin/serve\nEXPOSE 8080\n")
    assert check_dockerfile(dockerfile).passed


def test_the_rehearsals_dockerfile_line_says_the_image_is_built_and_scanned_in_the_pipeline(tmp_path: Path) -> None:
    from rehearsal.dockerfile_check import PIPELINE_NOTE, dockerfile_step_detail

    assert dockerfile_step_detail(tmp_path) is None
    shutil.copytree(Path(__file__).resolve().parents[1] / "examples" / "byoc", tmp_path / "repo")
    detail = dockerfile_step_detail(tmp_path / "repo")
    assert detail is not None and detail.startswith("Dockerfile: ") and detail.endswith(f"({PIPELINE_NOTE})")
    (tmp_path / "repo" / "Dockerfile").write_text("FROM python:3.12\n")
    with pytest.raises(ValueError, match=re.escape("EXPOSE 8080 is missing") + ".*" + re.escape(f"({PIPELINE_NOTE})")):
        dockerfile_step_detail(tmp_path / "repo")


def test_enhanced_scanning_active_is_judged_once_a_scan_completed(ecr) -> None:
    """Inspector's ACTIVE (continuous monitoring) is waited on until a completed scan is reported, then judged."""
    from datetime import UTC, datetime

    client, stubber = ecr
    clock = FakeClock()
    expect_scan(stubber, scan_answer("PENDING"))
    expect_scan(stubber, scan_answer("ACTIVE"))  # monitored, but no completed scan yet
    done = scan_answer("ACTIVE")
    done["imageScanFindings"] = {
        "imageScanCompletedAt": datetime(2026, 11, 30, tzinfo=UTC),
        "enhancedFindings": [
            {
                "severity": "HIGH",
                "title": "CVE-2026-0009 - openssl",
                "packageVulnerabilityDetails": {"vulnerabilityId": "CVE-2026-0009"},
            },
            {"severity": "UNTRIAGED", "title": "an unrated one"},
        ],
    }
    expect_scan(stubber, done)
    answer = wait_for_scan(client, repository="ml-cicd-model", digest=DIGEST, timeout_seconds=60, clock=clock, sleep=clock.sleep)
    verdict = judge_findings(answer, "MEDIUM")
    assert clock.now == 20.0 and not verdict.passed
    assert verdict.reason == "image scan found 1 HIGH above the bound MEDIUM: CVE-2026-0009 (HIGH)"
    assert not judge_findings(answer, "LOW").passed  # UNTRIAGED counts as MEDIUM


def test_an_active_scan_that_never_reports_a_completed_scan_fails_within_the_bound(ecr) -> None:
    client, stubber = ecr
    clock = FakeClock()
    for _ in range(4):
        expect_scan(stubber, scan_answer("ACTIVE"))
    with pytest.raises(ReleaseToolError, match=r"did not complete within 35 s \(status ACTIVE\)"):
        wait_for_scan(client, repository="ml-cicd-model", digest=DIGEST, timeout_seconds=35, clock=clock, sleep=clock.sleep)


def test_the_worst_findings_are_named_from_every_page(ecr, tmp_path: Path, capsys) -> None:
    """A CRITICAL finding on the second page of 100 is the one named."""
    client, stubber = ecr
    policy = tmp_path / "release-policy.json"
    policy.write_text(json.dumps({"version": 1}))
    first = scan_answer(
        "COMPLETE", {"LOW": 100, "CRITICAL": 1}, [{"name": f"CVE-LOW-{i}", "severity": "LOW"} for i in range(100)]
    )
    first["nextToken"] = "page-2"
    expect_scan(stubber, first)
    second = scan_answer("COMPLETE", {"LOW": 100, "CRITICAL": 1}, [{"name": "CVE-2026-0666", "severity": "CRITICAL"}])
    stubber.add_response(
        "describe_image_scan_findings",
        second,
        {"repositoryName": "ml-cicd-model", "imageId": {"imageDigest": DIGEST}, "maxResults": 100, "nextToken": "page-2"},
    )
    args = [
        "--repository",
        "ml-cicd-model",
        "--digest",
        DIGEST,
        "--image-uri",
        URI,
        "--policy",
        str(policy),
        "--out",
        str(tmp_path / "o"),
    ]
    assert main(args, ecr=client, env={}) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "image gate: image scan found 1 CRITICAL above the bound MEDIUM: CVE-2026-0666 (CRITICAL)"
    )


def test_findings_beyond_the_page_bound_fail_closed(ecr) -> None:
    from release_tools.image_scan import MAX_FINDING_PAGES, read_all_findings

    client, stubber = ecr
    first = scan_answer("COMPLETE", {"LOW": 1}, [{"name": "CVE-1", "severity": "LOW"}])
    first["nextToken"] = "more"
    for _ in range(MAX_FINDING_PAGES - 1):
        page = scan_answer("COMPLETE", {"LOW": 1}, [{"name": "CVE-1", "severity": "LOW"}]) | {"nextToken": "more"}
        stubber.add_response(
            "describe_image_scan_findings",
            page,
            {"repositoryName": "ml-cicd-model", "imageId": {"imageDigest": DIGEST}, "maxResults": 100, "nextToken": "more"},
        )
    with pytest.raises(ReleaseToolError, match=f"more than {MAX_FINDING_PAGES * 100} findings"):
        read_all_findings(client, first, repository="ml-cicd-model", digest=DIGEST)
