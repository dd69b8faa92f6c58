"""Run the rehearsal's eight steps in pipeline order and decide the verdict.

Each step runs the pipeline's own code (the model project's scripts, the
Build stage's policy validation and packager, the Train stage's
`train_and_register` with the local job runner, the real function handlers)
in an offline sandbox. The first step that blocks stops the rest, as a failed
stage stops the pipeline; the report is written whatever happened.
"""

from __future__ import annotations

import json
import shutil
import sys
import urllib.request
import uuid
from collections.abc import Callable, Mapping
from contextlib import ExitStack, redirect_stdout
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from contracts.decision_records import record_timestamp
from contracts.release_record import ReleaseRecord
from rehearsal import aws_request_constraints, pipeline_functions, progress
from rehearsal.aws_sandbox import ARTIFACT_BUCKET, ARTIFACT_KEY_ARN, Sandbox, aws_sandbox, environment
from rehearsal.champion_store import Champion, champion_archive, load_champion, save_champion
from rehearsal.dockerfile_check import dockerfile_step_detail
from rehearsal.errors import ConfigurationError, StepFailed
from rehearsal.inference_model import load_model_archive
from rehearsal.inference_server import running_server
from rehearsal.local_jobs import LocalJobRunner
from rehearsal.output_folder import remove_own_outputs
from rehearsal.pipeline_action import ActionRun, run_pipeline_action
from rehearsal.pipeline_code import PROJECT_ROOT, ModelRepository
from rehearsal.promotion import promote_release
from rehearsal.sandbox_registry import (
    MODEL_PACKAGE_GROUP,
    deploy_endpoint,
    put_endpoint_templates,
    register_package,
    train_settings,
)
from rehearsal.subprocess_step import run_script
from release_tools.errors import ReleaseToolError
from release_tools.model_package import build_source_tarball
from release_tools.s3_objects import download_file
from release_tools.train_and_register import StageInputs, train_and_register
from release_tools.validate_policy import validate_policy_file
from stacks.action_parameters import resolve_variables, user_parameters_string

__all__ = ["GateOutcome", "RehearsalOptions", "RehearsalResult", "run_rehearsal"]

STEP_NAMES = (
    "model tests and policy validation",
    "training (train.py, script mode)",
    "evaluation (evaluate.py)",
    "evaluation gate (real handler)",
    "package model.tar.gz",
    "local serving (ping)",
    "staging gate (real handler)",
    "promotion",
)
SCHEMAS_DIR = PROJECT_ROOT / "schemas"
POLICY_SCHEMA = SCHEMAS_DIR / "release-policy.v1.schema.json"
# What the Build stage's artifact leaves out of the repository (buildspecs/ci.yml), and local folders it never sees.
_NOT_IN_BUILD_OUTPUT = {"model", "evaluation", ".git", ".venv", "venv", ".rehearsal"}
_CACHES = shutil.ignore_patterns("__pycache__", ".pytest_cache", ".ruff_cache")
TRAIN_OUTPUT = "TrainOutput"
EXIT_INTERRUPTED = 130
"""Exit code of a rehearsal stopped by Ctrl-C or SIGTERM (128 + SIGINT, as shells report it)."""


@dataclass(frozen=True)
class RehearsalOptions:
    """What `python -m rehearsal run` was asked to do."""

    model_repo: Path
    out_dir: Path
    skip_model_tests: bool = False
    hyperparameters: Mapping[str, str] = field(default_factory=dict)
    resamples: int | None = None
    platform_floors: str | None = None
    source_revision: str = "local"


@dataclass(frozen=True)
class GateOutcome:
    """A gate's answer to its job and its decision record."""

    gate: str
    passed: bool
    message: str
    record: Mapping[str, Any] | None
    invocations: int


@dataclass
class RehearsalResult:
    """Everything the report needs."""

    options: RehearsalOptions
    run_id: str
    started_at: str
    steps: list[progress.StepTiming] = field(default_factory=list)
    released: bool = False
    blocked_by: str | None = None
    reason: str | None = None
    evaluation: Mapping[str, Any] | None = None
    policy: Mapping[str, Any] | None = None
    gates: list[GateOutcome] = field(default_factory=list)
    champion_before: Champion | None = None
    champion_after: Champion | None = None
    model_package_arn: str | None = None
    promoted_by: str | None = None
    hyperparameters: Mapping[str, str] = field(default_factory=dict)
    configuration_error: str | None = None
    interrupted_during: str | None = None

    @property
    def exit_code(self) -> int:
        """0 released, 1 blocked, 2 stopped by a configuration error, 130 interrupted."""
        if self.interrupted_during:
            return EXIT_INTERRUPTED
        if self.configuration_error:
            return 2
        return 0 if self.released else 1

    @property
    def verdict_line(self) -> str:
        """The last line the command prints."""
        if self.interrupted_during:
            champion = "the local champion is now this model" if self.champion_after else "the local champion is unchanged"
            return (
                f"INTERRUPTED {self.interrupted_during}: nothing more ran, {champion}; "
                "run the same command again to rehearse from the start"
            )
        if self.configuration_error:
            return f"NOT COMPLETED: {self.configuration_error}"
        if self.released:
            return f"RELEASED: {self.model_package_arn} passed every gate and is the local champion"
        return f"BLOCKED by {self.blocked_by}: {self.reason}"


class _Blocked(Exception):
    """A stage stopped the release: who, and why."""

    def __init__(self, stage: str, reason: str) -> None:
        super().__init__(reason)
        self.stage = stage
        self.reason = reason


class _SuccessiveSteps:
    """Steps that begin inside one call (the Train stage's): beginning one ends the one before."""

    def __init__(self, log: progress.StepLog) -> None:
        self._log = log
        self._open = ExitStack()
        self.current: progress.StepTiming | None = None

    def begin(self, name: str) -> progress.StepTiming:
        self._open.close()
        self.current = self._open.enter_context(self._log.step(name))
        return self.current

    def __enter__(self) -> _SuccessiveSteps:
        return self

    def __exit__(self, *exc_info: Any) -> bool | None:
        return self._open.__exit__(*exc_info)


class _Rehearsal:
    """One run: the options, the sandbox, the work directory, the result being built."""

    def __init__(self, options: RehearsalOptions, stream: TextIO) -> None:
        self.options = options
        self.repository = ModelRepository.at(options.model_repo)
        self.out_dir = options.out_dir.resolve()
        self.work_dir = self.out_dir / "work"
        self.log = progress.StepLog(total=len(STEP_NAMES), stream=stream)
        self.run_id = uuid.uuid4().hex[:8]
        self.result = RehearsalResult(
            options=options, run_id=self.run_id, started_at=record_timestamp(), hyperparameters=options.hyperparameters
        )
        self.s3_prefix = f"rehearsal/{self.run_id}"
        # CodePipeline's variables as the actions see them; the Deploy stages add their stack outputs.
        self.pipeline_variables: dict[str, str] = {"codepipeline.PipelineExecutionId": str(uuid.uuid4())}
        self.build_output = self.work_dir / "build"
        self.model_data_url = ""  # the release's serving package, once the Train stage registered it

    # -- set-up -------------------------------------------------------------------------------

    def prepare_directories(self) -> None:
        """Clear the previous run's outputs (only the rehearsal's own) and record the floors used."""
        remove_own_outputs(self.out_dir)
        self.work_dir.mkdir(parents=True)
        if self.options.platform_floors:
            (self.out_dir / "platform-floors.json").write_text(self.options.platform_floors, encoding="utf-8")

    # -- steps --------------------------------------------------------------------------------

    def check_model_repository(self, timing: progress.StepTiming) -> dict[str, Any]:
        """Step 1: the model's own tests, then the Build stage's policy validation."""
        details = []
        if self.options.skip_model_tests:
            details.append("model tests skipped (--skip-model-tests)")
        else:
            try:
                output = run_script(
                    "the model repository's tests",
                    ["-m", *self.repository.test_arguments()],
                    cwd=self.repository.root,
                    log_file=self.work_dir / "logs" / "model-tests.log",
                )
            except StepFailed as error:
                raise _Blocked("Build stage (model tests)", str(error)) from None
            details.append(f"model tests: {progress_summary(output)}")
        try:
            dockerfile = dockerfile_step_detail(self.repository.root)
        except ValueError as error:
            raise _Blocked("Build stage (Dockerfile)", str(error)) from None
        if dockerfile is not None:
            details.append(dockerfile)
        policy = self.write_build_output()
        details.append("release-policy.yaml valid")
        timing.detail = "; ".join(details)
        self.result.policy = policy
        return policy

    def write_build_output(self) -> dict[str, Any]:
        """The Build stage's artifact (`BuildOutput`): the repository, `release-policy.json`, `sourcedir.tar.gz`."""

        def left_out(directory: str, names: list[str]) -> set[str]:
            top = Path(directory) == self.repository.root
            return set(_CACHES(directory, names)) | ({n for n in names if n in _NOT_IN_BUILD_OUTPUT} if top else set())

        try:
            policy = validate_policy_file(self.repository.policy_file, POLICY_SCHEMA)
        except ReleaseToolError as error:
            raise _Blocked("Build stage (policy validation)", str(error)) from None
        shutil.copytree(self.repository.root, self.build_output, ignore=left_out)
        policy_json = self.build_output / "release-policy.json"
        policy_json.write_text(json.dumps(policy, indent=2, allow_nan=False) + "\n", encoding="utf-8")
        try:
            build_source_tarball(self.build_output, self.build_output / "sourcedir.tar.gz")
        except ReleaseToolError as error:
            raise _Blocked("Build stage (source package)", str(error)) from None
        return policy

    def seed_registry(self, sandbox: Sandbox, stored: Champion | None) -> None:
        """Create the group and register and approve the stored champion, as the Promote stage left it."""
        sandbox.sagemaker.create_model_package_group(ModelPackageGroupName=MODEL_PACKAGE_GROUP)
        if stored is not None:
            prefix = f"s3://{ARTIFACT_BUCKET}/champion"
            sandbox.s3.put_object(Bucket=ARTIFACT_BUCKET, Key="champion/model.tar.gz", Body=champion_archive(stored).read_bytes())
            arn = register_package(
                sandbox.sagemaker,
                model_data_url=f"{prefix}/model.tar.gz",
                evaluation_uri=f"{prefix}/evaluation.json",
                source_revision=stored.source_revision,
                training_job_name="rehearsal-champion",
                data_sha256="0" * 64,
            )
            sandbox.sagemaker.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")

    def train_stage(self, sandbox: Sandbox, stored: Champion | None) -> str:
        """Steps 2 and 3: the Train stage's `train_and_register`, its jobs run locally; return the `TrainOutput` key."""
        with _SuccessiveSteps(self.log) as steps:
            shown = ", ".join(f"{k}={v}" for k, v in self.options.hyperparameters.items()) or "script defaults"
            steps.begin(STEP_NAMES[1]).detail = f"hyperparameters: {shown}"
            self.seed_registry(sandbox, stored)
            runner = self._job_runner(sandbox, lambda job: steps.begin(STEP_NAMES[2]) if job == "evaluation" else None)
            try:
                self._run_train_and_register(sandbox, runner)
            except ReleaseToolError as error:  # the stage's own checks, and the local jobs' failures
                assert steps.current is not None
                steps.current.outcome = progress.BLOCKED
                stage = "evaluation" if steps.current.name == STEP_NAMES[2] else "training"
                raise _Blocked(f"Train stage ({stage})", str(error)) from None
            assert runner.evaluation_file is not None and steps.current is not None
            shutil.copy2(runner.evaluation_file, self.out_dir / "evaluation.json")  # exactly what evaluate.py wrote
            steps.current.detail = self._evaluation_detail()
            return self.put_train_output(sandbox)

    def _job_runner(self, sandbox: Sandbox, on_job_start: Callable[[str], Any]) -> LocalJobRunner:
        return LocalJobRunner(
            repository=self.repository,
            work_dir=self.work_dir,
            s3=sandbox.s3,
            kms_key_arn=ARTIFACT_KEY_ARN,
            resamples=self.options.resamples,
            on_job_start=on_job_start,
        )

    def _run_train_and_register(self, sandbox: Sandbox, runner: LocalJobRunner) -> ReleaseRecord:
        """`train_and_register` on the Build stage's output; what it prints goes to `work/logs/train-stage.log`."""
        settings = train_settings()
        put_endpoint_templates(sandbox.s3, settings)
        inputs = StageInputs(
            project_dir=self.build_output,
            out_dir=self.work_dir / TRAIN_OUTPUT,
            schemas_dir=SCHEMAS_DIR,
            source_revision=self.options.source_revision,
            hyperparameters=dict(self.options.hyperparameters),
        )
        log_file = self.work_dir / "logs" / "train-stage.log"
        log_file.parent.mkdir(parents=True, exist_ok=True)
        with log_file.open("w", encoding="utf-8") as log, redirect_stdout(log):
            record = train_and_register(
                inputs, settings, runner=runner, sagemaker=sandbox.sagemaker, s3=sandbox.s3, now=datetime.now(UTC)
            )
        self.result.model_package_arn = record.model_package_arn
        self.result.evaluation = json.loads((inputs.out_dir / "evaluation.json").read_text(encoding="utf-8"))
        self.model_data_url = record.model_data_url
        return record

    def _evaluation_detail(self) -> str:
        metrics = (self.result.evaluation or {}).get("metrics", {})
        shown = ", ".join(f"{name}={entry.get('value')}" for name, entry in list(metrics.items())[:3])
        champion = ((self.result.evaluation or {}).get("champion") or {}).get("model_package_arn")
        return f"{shown}; champion: {champion or 'none'}"

    def put_train_output(self, sandbox: Sandbox) -> str:
        """Zip the `TrainOutput` folder into the sandbox's artifact bucket, as CodeBuild uploads the artifact."""
        folder = self.work_dir / TRAIN_OUTPUT
        files = {path.relative_to(folder).as_posix(): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}
        return sandbox.put_zip_artifact(f"{self.s3_prefix}/artifacts/{TRAIN_OUTPUT}.zip", files)

    def run_gate(
        self,
        sandbox: Sandbox,
        *,
        gate: str,
        handler: Callable[[Mapping[str, Any], Any], Any],
        artifact_key: str,
        action: str,
        record_name: str,
        function_environment: Mapping[str, str],
    ) -> ActionRun:
        """Invoke a real handler on the TrainOutput artifact; keep its records; block on failure.

        `action` names the pipeline action: its UserParameters are the synthesized pipeline's
        (`stacks.action_parameters`), with this run's CodePipeline variables resolved.
        """
        try:
            run = run_pipeline_action(
                sandbox,
                handler=handler,
                function_name=f"rehearsal-{record_name}",
                artifact_name=TRAIN_OUTPUT,
                artifact_key=artifact_key,
                user_parameters=self.user_parameters(action),
                record_prefix=f"{self.s3_prefix}/decision-records/{record_name}",
                function_environment=function_environment,
            )
        except StepFailed as error:
            raise _Blocked(gate, str(error)) from None
        self._keep_records(run, record_name)
        message = str((run.record or {}).get("verdict") or run.answer.message)
        self.result.gates.append(
            GateOutcome(gate=gate, passed=run.answer.succeeded, message=message, record=run.record, invocations=run.invocations)
        )
        if not run.answer.succeeded:
            raise _Blocked(gate, message)
        # As CodePipeline does: the action's output variables, in its namespace, for later actions.
        for name, value in run.answer.output_variables.items():
            self.pipeline_variables[f"{action}.{name}"] = value
        return run

    def user_parameters(self, action: str) -> str | None:
        """The action's UserParameters as CodePipeline hands them to the function."""
        template = user_parameters_string(action)
        return None if template is None else resolve_variables(template, self.pipeline_variables)

    def _keep_records(self, run: ActionRun, record_name: str) -> None:
        for key, content in run.record_files.items():
            suffix = Path(key).suffix
            if suffix in (".json", ".md") and (run.record is None or key.endswith(f"{run.record.get('job_id')}{suffix}")):
                (self.out_dir / f"{record_name}-decision{suffix}").write_bytes(content)

    def floors_environment(self) -> dict[str, str]:
        return {"PLATFORM_FLOORS": self.options.platform_floors} if self.options.platform_floors else {}

    def package(self, sandbox: Sandbox) -> Path:
        """Step 5: the serving `model.tar.gz` the Train stage packaged (and registered), kept as an output."""
        try:
            return download_file(sandbox.s3, self.model_data_url, self.out_dir / "model.tar.gz")
        except ReleaseToolError as error:
            raise _Blocked("Train stage (packaging)", str(error)) from None

    # -- the whole run ------------------------------------------------------------------------

    def run(self) -> RehearsalResult:
        self.prepare_directories()
        champion = load_champion(self.out_dir)
        self.result.champion_before = champion
        try:
            self._run_steps(champion)
        except _Blocked as blocked:
            self.result.blocked_by = blocked.stage
            self.result.reason = blocked.reason
            self._mark_last_step(progress.BLOCKED)
        except ConfigurationError as error:
            self.result.configuration_error = str(error)
        except KeyboardInterrupt:
            self.result.interrupted_during = self._interrupted_where()
        self._refuse_constraint_violations()
        for name in STEP_NAMES[len(self.log.steps) :]:
            self.log.skip(name, "not reached")
        self.result.steps = list(self.log.steps)
        return self.result

    def _refuse_constraint_violations(self) -> None:
        """A request AWS would refuse blocks the release, even when the code under rehearsal swallowed the error."""
        violations = aws_request_constraints.take_violations()
        if violations:
            self.result.released = False
            self.result.blocked_by = self.result.blocked_by or "AWS request constraints"
            listed = "; ".join(map(str, violations[:3]))
            self.result.reason = f"{self.result.reason + '; ' if self.result.reason else ''}AWS would refuse: {listed}"

    def _interrupted_where(self) -> str:
        last = self.log.steps[-1] if self.log.steps else None
        if last is None:
            return "during set-up"
        where = "during" if last.outcome == progress.INTERRUPTED else "after"
        return f"{where} step {last.number} ({last.name})"

    def _mark_last_step(self, outcome: str) -> None:
        if self.log.steps:
            self.log.steps[-1].outcome = outcome

    def _run_steps(self, stored_champion: Champion | None) -> None:
        with ExitStack() as stack:
            with self.log.step(STEP_NAMES[0]) as timing:
                self._blocking(lambda: self.check_model_repository(timing), timing)
            sandbox = stack.enter_context(aws_sandbox())
            artifact_key = self.train_stage(sandbox, stored_champion)
            with self.log.step(STEP_NAMES[3]) as timing:
                self._gate_step(
                    timing, sandbox, gate="evaluation gate", handler=pipeline_functions.evaluation_gate,
                    artifact_key=artifact_key, action="EvaluationGate",
                )  # fmt: skip
            with self.log.step(STEP_NAMES[4]) as timing:
                archive = self._blocking(lambda: self.package(sandbox), timing)
                timing.detail = f"{archive.stat().st_size} bytes, model.joblib at the root, code/ inside"
            with self.log.step(STEP_NAMES[5]) as timing:
                server_url = self._serve_staging(stack, sandbox, archive, timing)
            with self.log.step(STEP_NAMES[6]) as timing:
                self.repository.golden_requests  # noqa: B018 - a ConfigurationError naming the file when it is absent
                with environment({"AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": server_url}):
                    self._gate_step(
                        timing, sandbox, gate="staging gate", handler=pipeline_functions.staging_gate,
                        artifact_key=artifact_key, action="StagingGate",
                    )  # fmt: skip
            with self.log.step(STEP_NAMES[7]) as timing:
                self._blocking(lambda: self.promote(sandbox, timing, archive, artifact_key), timing)
        self.result.released = True

    def _serve_staging(self, stack: ExitStack, sandbox: Sandbox, archive: Path, timing: progress.StepTiming) -> str:
        """Step 6: the staging endpoint registered in the sandbox, the archive served locally; the server's URL."""
        endpoint = deploy_endpoint(
            sandbox.sagemaker, stage="staging", model_package_arn=self.result.model_package_arn or "", run_id=self.run_id
        )
        model = load_model_archive(archive, self.work_dir / "serving")
        # Serving puts the archive's code/ first on sys.path; when the run ends it goes, so a rehearsal run in
        # a longer-lived process (the test suite) does not shadow the model repository's own modules.
        stack.callback(_forget_import_path, model.model_dir / "code")
        server = stack.enter_context(running_server(model, endpoint_name=endpoint.endpoint_name))
        self.pipeline_variables["DeployStaging.EndpointName"] = endpoint.endpoint_name
        with urllib.request.urlopen(f"{server.url}/ping", timeout=5) as response:
            timing.detail = f"{server.url} /ping {response.status}"
        return str(server.url)

    def _gate_step(self, timing: progress.StepTiming, sandbox: Sandbox, *, gate: str, **action: Any) -> None:
        record_name = gate.replace(" ", "-")
        self._blocking(
            lambda: self.run_gate(
                sandbox, gate=gate, record_name=record_name, function_environment=self.floors_environment(), **action
            ),
            timing,
        )
        timing.detail = self.result.gates[-1].message[:160]

    def _blocking(self, work: Any, timing: progress.StepTiming) -> Any:
        try:
            return work()
        except _Blocked:
            timing.outcome = progress.BLOCKED
            raise

    def promote(
        self,
        sandbox: Sandbox,
        timing: progress.StepTiming,
        archive: Path,
        artifact_key: str,
    ) -> None:
        """Step 8: the production endpoint registered in the sandbox, then the real promote function."""

        def run_action(**kwargs: Any) -> ActionRun:
            return self.run_gate(sandbox, handler=pipeline_functions.promote, artifact_key=artifact_key, **kwargs)

        promoted_by = promote_release(
            sandbox,
            run_action=run_action,
            model_package_arn=self.result.model_package_arn or "",
            run_id=self.run_id,
            variables=self.pipeline_variables,
        )
        champion = save_champion(
            self.out_dir,
            model_archive=archive,
            model_package_arn=self.result.model_package_arn or "",
            source_revision=self.options.source_revision,
            promoted_at=record_timestamp(),
            promoted_by=promoted_by,
            metrics=dict((self.result.evaluation or {}).get("metrics", {})),
        )
        self.result.champion_after = champion
        self.result.promoted_by = promoted_by
        timing.detail = promoted_by


def _forget_import_path(path: Path) -> None:
    while str(path) in sys.path:
        sys.path.remove(str(path))


def progress_summary(pytest_output: str) -> str:
    """`5 passed in 0.81s` from pytest's quiet output."""
    lines = [line.strip(" =") for line in pytest_output.splitlines() if " passed" in line or " failed" in line]
    return lines[-1] if lines else "ran"


def run_rehearsal(options: RehearsalOptions, stream: TextIO | None = None) -> RehearsalResult:
    """Run the rehearsal and write the report; return the result.

    A configuration error (a bad option, a file the model repository lacks) is
    raised as `ConfigurationError` after the report is written.
    """
    from rehearsal.report import write_outputs

    out = stream or sys.stdout
    result = _Rehearsal(options, out).run()
    write_outputs(result, options.out_dir.resolve())
    if result.configuration_error:
        raise ConfigurationError(result.configuration_error)
    return result
