"""End-to-end rehearsals: a first release, a second one against the champion, a worse model blocked.

Three runs share one output directory (module scope, about 4 s each): the
first is the run's shared first release (tests/rehearsal_fixtures.py), copied;
the second compares against the model the first promoted; the third trains a
deliberately worse model (`--hyperparameter C=0.001`) from a copy of the model
repository whose absolute bounds are loosened, so only the champion rules can
block it. Model tests are skipped and the bootstrap uses evaluate.py's
minimum of 1000 resamples, to keep the suite fast.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from rehearsal.cli import main
from rehearsal.errors import ConfigurationError
from rehearsal.pipeline_code import PROJECT_ROOT, ModelRepository
from rehearsal_fixtures import FAST, first_release, runtime_client


@dataclass(frozen=True)
class Run:
    exit_code: int
    stdout: str
    stderr: str
    out_dir: Path

    @property
    def last_line(self) -> str:
        return self.stdout.strip().splitlines()[-1]

    def json(self, name: str) -> dict:
        return json.loads((self.out_dir / name).read_text(encoding="utf-8"))


def rehearse(*arguments: str, out_dir: Path, snapshot: Path | None = None) -> Run:
    """Run the CLI in-process; with `snapshot`, copy the outputs there (the next run replaces them)."""
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main(["run", "--out", str(out_dir), *arguments])
    if snapshot is not None:
        shutil.copytree(out_dir, snapshot, ignore=shutil.ignore_patterns("work"))
    return Run(code, stdout.getvalue(), stderr.getvalue(), snapshot or out_dir)


def lenient_copy(destination: Path) -> Path:
    """A copy of the model repository whose absolute bounds a weak model meets; champion rules untouched."""
    shutil.copytree(PROJECT_ROOT / "model_repo", destination, ignore=shutil.ignore_patterns("tests", "__pycache__"))
    policy_path = destination / "release-policy.yaml"
    policy = yaml.safe_load(policy_path.read_text(encoding="utf-8"))
    policy["metrics"] = {"roc_auc": {"min": 0.9}, "log_loss": {"max": 0.6}, "accuracy": {"min": 0.8}}
    policy_path.write_text(yaml.safe_dump(policy), encoding="utf-8")
    return destination


@pytest.fixture(scope="module")
def runs(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    root = tmp_path_factory.mktemp("rehearsal")
    out_dir = root / "out"
    repo = str(PROJECT_ROOT / "model_repo")
    shared = first_release(pytestconfig)
    first = Run(shared.exit_code, shared.stdout, shared.stderr, shared.out_dir)
    shutil.copytree(shared.out_dir, out_dir, symlinks=True)  # the later runs continue from its champion
    second = rehearse("--model-repo", repo, *FAST, out_dir=out_dir, snapshot=root / "second")
    weaker_repo = lenient_copy(root / "weaker_repo")
    worse = rehearse("--model-repo", str(weaker_repo), "--hyperparameter", "C=0.001", *FAST, out_dir=out_dir)
    return {"first": first, "second": second, "worse": worse}


def champion_of(run: Run) -> dict:
    return run.json("champion/champion.json")


def test_first_rehearsal_releases_with_every_output(runs: dict[str, Run]) -> None:
    first = runs["first"]
    assert first.exit_code == 0, first.stdout + first.stderr
    assert first.last_line.startswith("RELEASED: arn:aws:sagemaker:")
    for step in range(1, 9):
        assert f"[{step}/8]" in first.stdout


def test_first_rehearsal_has_no_champion_and_skips_champion_rules(runs: dict[str, Run]) -> None:
    assert runs["first"].json("evaluation.json")["champion"] is None
    record = runs["first"].json("evaluation-gate-decision.json")
    assert all(rule["outcome"] == "skipped" for rule in record["rules"] if rule["rule_id"].startswith("champion."))
    assert champion_of(runs["first"])["model_package_arn"].endswith("/1")
    assert champion_of(runs["first"])["promoted_by"].startswith("promote handler")


def test_second_rehearsal_compares_with_the_promoted_champion(runs: dict[str, Run]) -> None:
    second = runs["second"]
    assert second.exit_code == 0, second.stdout
    champion = second.json("evaluation.json")["champion"]
    assert champion["comparison"]["method"] == "paired_bootstrap"
    record = second.json("evaluation-gate-decision.json")
    champion_rules = [rule for rule in record["rules"] if rule["rule_id"].startswith("champion.")]
    assert champion_rules and all(rule["outcome"] == "passed" for rule in champion_rules)
    assert champion_of(runs["second"])["model_package_arn"].endswith("/2")


def test_worse_model_is_blocked_by_the_champion_rule(runs: dict[str, Run]) -> None:
    worse = runs["worse"]
    assert worse.exit_code == 1, worse.stdout
    assert worse.last_line.startswith("BLOCKED by evaluation gate:")
    assert "champion.roc_auc" in worse.last_line or "max_regression" in worse.last_line
    record = worse.json("evaluation-gate-decision.json")
    failed = {rule["rule_id"] for rule in record["rules"] if rule["outcome"] == "failed"}
    assert failed and all(rule_id.startswith("champion.") for rule_id in failed)
    assert "[5/8] package model.tar.gz" in worse.stdout and "not reached" in worse.stdout


def test_blocked_rehearsal_keeps_the_champion(runs: dict[str, Run]) -> None:
    assert champion_of(runs["worse"]) == champion_of(runs["second"])


def test_report_states_verdict_rules_and_metrics(runs: dict[str, Run]) -> None:
    report = (runs["worse"].out_dir / "report.md").read_text(encoding="utf-8")
    assert "❌ BLOCKED" in report
    assert "## Why it was blocked" in report
    assert "| roc_auc | higher |" in report
    assert "`champion.roc_auc.max_regression`" in report
    assert (runs["worse"].out_dir / "metrics.png").read_bytes().startswith(b"\x89PNG")


def test_released_outputs_are_all_written(runs: dict[str, Run]) -> None:
    names = {path.name for path in runs["second"].out_dir.iterdir()}
    assert {
        "report.md",
        "metrics.png",
        "evaluation.json",
        "model.tar.gz",
        "evaluation-gate-decision.json",
        "evaluation-gate-decision.md",
        "staging-gate-decision.json",
        "staging-gate-decision.md",
        "promotion-promote-decision.json",
    } <= names
    assert runs["second"].json("staging-gate-decision.json")["decision"] == "passed"


def test_blocked_run_removes_the_stale_outputs_it_did_not_reach(runs: dict[str, Run]) -> None:
    names = {path.name for path in runs["worse"].out_dir.iterdir()}
    assert {"report.md", "metrics.png", "evaluation.json", "evaluation-gate-decision.json"} <= names
    assert "model.tar.gz" not in names and "staging-gate-decision.json" not in names


def test_the_train_output_is_written_by_the_train_stages_own_code(runs: dict[str, Run]) -> None:
    """`train_and_register` wrote TrainOutput: the endpoint configuration files and release.json are its own."""
    folder = runs["worse"].out_dir / "work" / "TrainOutput"
    files = sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file())
    assert files == sorted([
        "endpoint/production.config.json", "endpoint/production.template.json",
        "endpoint/staging.config.json", "endpoint/staging.template.json",
        "evaluation.json", "golden-requests.jsonl", "release-policy.json", "release.json",
    ])  # fmt: skip
    release = json.loads((folder / "release.json").read_text(encoding="utf-8"))
    config = json.loads((folder / "endpoint" / "staging.config.json").read_text(encoding="utf-8"))
    assert config == {"Parameters": {"ModelPackageArn": release["model_package_arn"]},
                      "Tags": {"project": "rehearsal", "source-revision": "local"}}  # fmt: skip
    # The stage's run layout: s3://<bucket>/releases/<run id>/, the run id being the training job's name.
    run_id = release["training_job_name"]
    assert run_id.startswith("rehearsal-local-")
    assert release["model_data_url"] == f"s3://rehearsal-pipeline-artifacts/releases/{run_id}/model/model.tar.gz"
    # Each rehearsal's registry is fresh; the stored champion is registered without the holdout's checksum.
    holdout = json.loads((folder / "evaluation.json").read_text(encoding="utf-8"))["dataset"]["sha256"]
    assert release["holdout_reuse"] == {"holdout_sha256": holdout, "earlier_candidates": 0}
    assert release["image_uri"].endswith("/sagemaker-scikit-learn:1.4-2-cpu-py3")


def test_a_failing_training_script_blocks_the_train_stage(tmp_path: Path) -> None:
    repository = tmp_path / "repo"
    shutil.copytree(PROJECT_ROOT / "model_repo", repository, ignore=shutil.ignore_patterns("tests", "__pycache__"))
    (repository / "train.py").write_text('raise SystemExit("train.py: no features left after cleaning")\n', encoding="utf-8")
    run = rehearse("--model-repo", str(repository), *FAST, out_dir=tmp_path / "out")
    assert run.exit_code == 1, run.stdout + run.stderr
    assert run.last_line.startswith("BLOCKED by Train stage (training): train.py failed (exit 1): ")
    assert "no features left after cleaning" in run.last_line
    assert "[2/8] training (train.py, script mode)" in run.stdout and "blocked" in run.stdout
    assert "[3/8] evaluation (evaluate.py)" in run.stdout and "not reached" in run.stdout


def test_missing_model_repository_is_a_usage_error(tmp_path: Path) -> None:
    run = rehearse("--model-repo", str(tmp_path / "absent"), out_dir=tmp_path / "out")
    assert run.exit_code == 2
    assert run.stderr.strip() == f"rehearsal: --model-repo {tmp_path / 'absent'} is not a directory"


def test_bad_hyperparameter_is_a_usage_error(tmp_path: Path) -> None:
    run = rehearse("--hyperparameter", "C", out_dir=tmp_path)
    assert (run.exit_code, run.stderr.strip()) == (2, "rehearsal: --hyperparameter 'C' is not NAME=VALUE")


def test_a_file_the_model_repository_lacks_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"^the model's evaluation script is missing \("):
        ModelRepository.at(tmp_path).evaluate_script  # noqa: B018 - the property raises


def test_released_archive_serves_both_content_types_through_boto3(runs: dict[str, Run], monkeypatch: pytest.MonkeyPatch) -> None:
    from rehearsal.inference_model import load_model_archive
    from rehearsal.inference_server import running_server

    # Loading puts the archive's code/ on sys.path (as in the container): not for the tests that follow.
    monkeypatch.setattr(sys, "path", list(sys.path))
    work = runs["second"].out_dir / "serve-check"
    model = load_model_archive(runs["second"].out_dir / "model.tar.gz", work)
    row = (PROJECT_ROOT / "model_repo" / "data" / "holdout.csv").read_text(encoding="utf-8").splitlines()[1]
    features = row.split(",")[1:]
    with running_server(model) as server:
        client = runtime_client(server.url)
        as_json = client.invoke_endpoint(
            EndpointName="any", ContentType="application/json", Body=json.dumps({"instances": [[float(x) for x in features]]})
        )
        prediction = json.loads(as_json["Body"].read())["predictions"][0]
        as_csv = client.invoke_endpoint(EndpointName="any", ContentType="text/csv", Accept="text/csv", Body=",".join(features))
    label, probability = as_csv["Body"].read().decode().strip().split(",")
    assert prediction["label"] == int(label)
    assert prediction["probability"] == float(probability)


def test_a_repository_dockerfile_is_checked_without_a_container_engine(tmp_path: Path) -> None:
    """The rehearsal checks the Dockerfile's contract and blocks on what SageMaker would refuse to run."""
    repository = tmp_path / "repo"
    shutil.copytree(PROJECT_ROOT / "model_repo", repository, ignore=shutil.ignore_patterns("tests", "__pycache__"))
    (repository / "Dockerfile").write_text("FROM python:3.12-slim\nCOPY train /usr/local/bin/\n", encoding="utf-8")
    run = rehearse("--model-repo", str(repository), *FAST, out_dir=tmp_path / "out")
    assert run.exit_code == 1
    assert "Dockerfile: EXPOSE 8080 is missing" in run.stdout + run.stderr
    assert "nothing provides the `serve` entry point" in run.stdout + run.stderr
    assert "the image itself is built, pushed and scanned in the pipeline's Build stage" in run.stdout + run.stderr


def test_the_model_tests_see_the_repositorys_own_pytest_configuration_or_none(tmp_path: Path) -> None:
    """As in CodeBuild, where the checkout is the top folder: never this project's pytest.ini (xdist, testpaths)."""
    sample = ModelRepository.at(PROJECT_ROOT / "model_repo")
    assert sample.test_arguments()[-4:] == ["-c", os.devnull, "--rootdir", str(sample.root)]
    own = tmp_path / "own"
    (own / "tests").mkdir(parents=True)
    (own / "pyproject.toml").write_text("[project]\nname = 'm'\n")
    assert "-c" in ModelRepository.at(own).test_arguments(), "a pyproject.toml without a pytest section is no configuration"
    (own / "pyproject.toml").write_text("[tool.pytest.ini_options]\naddopts = '-x'\n")
    assert ModelRepository.at(own).test_arguments() == ["pytest", str(own.resolve() / "tests"), "-q", "-p", "no:cacheprovider"]
