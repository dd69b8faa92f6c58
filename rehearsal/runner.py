"""Run the rehearsal's eight steps in pipeline order and decide the verdict.

Each step runs the pipeline's own code (the model project's scripts, the
Build stage's policy validation and packager, the real gate handlers) in an
offline sandbox. The first step that blocks stops the rest, as a failed stage
stops the pipeline; the report is written whatever happened.
"""

from __future__ import annotations

import json
import shutil
import sys
import urllib.request
import uuid
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

from contracts.decision_records import record_timestamp
from rehearsal import aws_request_constraints, progress
from rehearsal.aws_sandbox import ARTIFACT_BUCKET, Sandbox, aws_sandbox, environment
from rehearsal.champion_store import Champion, load_champion, save_champion
from rehearsal.dockerfile_check import PIPELINE_NOTE, check_dockerfile
from rehearsal.errors import ConfigurationError, NotAvailableYet, StepFailed
from rehearsal.inference_model import load_model_archive
from rehearsal.inference_server import running_server
from rehearsal.local_evaluation import EvaluationResult, evaluate_model
from rehearsal.local_training import TrainingResult, train_model, unpack_source
from rehearsal.output_folder import remove_own_outputs
from rehearsal.pipeline_action import ActionRun, run_pipeline_action
from rehearsal.pipeline_code import (
    PROJECT_ROOT,
    ModelRepository,
    import_from_lambdas,
    import_release_tool,
)
from rehearsal.promotion import PROMOTE_HANDLER, promote_release
from rehearsal.sandbox_registry import (
    MODEL_PACKAGE_GROUP,
    deploy_endpoint,
    find_champion,
    register_package,
)
from rehearsal.subprocess_step import run_script
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
POLICY_SCHEMA = PROJECT_ROOT / "schemas" / "release-policy.v1.schema.json"
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
        self.model_data_url = f"s3://{ARTIFACT_BUCKET}/{self.s3_prefix}/model/model.tar.gz"

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
            tests_dir = self.repository.tests_dir
            try:
                output = run_script(
                    "the model repository's tests",
                    ["-m", "pytest", str(tests_dir), "-q", "-p", "no:cacheprovider"],
                    cwd=self.repository.root,
                    log_file=self.work_dir / "logs" / "model-tests.log",
                )
            except StepFailed as error:
                raise _Blocked("Build stage (model tests)", str(error)) from None
            details.append(f"model tests: {progress_summary(output)}")
        dockerfile = self.repository.root / "Dockerfile"
        if dockerfile.is_file():
            report = check_dockerfile(dockerfile)
            if not report.passed:
                raise _Blocked("Build stage (Dockerfile)", "; ".join(report.problems))
            details.append(f"Dockerfile: {', '.join(report.checked)} ({PIPELINE_NOTE})")
        validate = import_release_tool("validate_policy", "validate_policy_file", "the Build stage's policy validation")
        if not POLICY_SCHEMA.is_file():
            raise NotAvailableYet(f"the release policy schema ({POLICY_SCHEMA})")
        release_tool_error = import_release_tool("errors", "ReleaseToolError", "release_tools.errors")
        try:
            policy = validate(self.repository.policy_file, POLICY_SCHEMA)
        except release_tool_error as error:
            raise _Blocked("Build stage (policy validation)", str(error)) from None
        policy_json = self.work_dir / "build" / "release-policy.json"
        policy_json.parent.mkdir(parents=True, exist_ok=True)
        policy_json.write_text(json.dumps(policy, indent=2, allow_nan=False) + "\n", encoding="utf-8")
        details.append("release-policy.yaml valid")
        timing.detail = "; ".join(details)
        self.result.policy = policy
        return policy

    def train(self, timing: progress.StepTiming) -> TrainingResult:
        """Step 2: `train.py` in script mode."""
        release_tool_error = import_release_tool("errors", "ReleaseToolError", "release_tools.errors")
        try:
            code_dir = unpack_source(self.repository, self.work_dir / "training")
            result = train_model(self.repository, self.work_dir / "training", self.options.hyperparameters, code_dir=code_dir)
        except (StepFailed, release_tool_error) as error:  # type: ignore[misc]
            raise _Blocked("Train stage (training)", str(error)) from None
        shown = ", ".join(f"{k}={v}" for k, v in self.options.hyperparameters.items()) or "script defaults"
        timing.detail = f"hyperparameters: {shown}"
        return result

    def seed_registry(self, sandbox: Sandbox, stored: Champion | None) -> Any:
        """Create the group; register and approve the stored champion; look it up as the Train stage does."""
        sandbox.sagemaker.create_model_package_group(ModelPackageGroupName=MODEL_PACKAGE_GROUP)
        if stored is not None:
            prefix = f"s3://{ARTIFACT_BUCKET}/champion"
            sandbox.s3.put_object(Bucket=ARTIFACT_BUCKET, Key="champion/model.tar.gz", Body=stored.model_archive.read_bytes())
            arn = register_package(
                sandbox.sagemaker,
                model_data_url=f"{prefix}/model.tar.gz",
                evaluation_uri=f"{prefix}/evaluation.json",
                source_revision=stored.source_revision,
                training_job_name="rehearsal-champion",
                data_sha256="0" * 64,
            )
            sandbox.sagemaker.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")
        return find_champion(sandbox.sagemaker)

    def evaluate(
        self, timing: progress.StepTiming, sandbox: Sandbox, training: TrainingResult, champion: Any
    ) -> EvaluationResult:
        """Step 3: `evaluate.py` against the holdout and the champion, then the Train stage's report check."""
        champion_archive = None
        if champion is not None:
            champion_archive = self.work_dir / "champion" / "model.tar.gz"
            champion_archive.parent.mkdir(parents=True, exist_ok=True)
            bucket, key = champion.model_data_url.removeprefix("s3://").split("/", 1)
            champion_archive.write_bytes(sandbox.s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        check_evaluation = import_release_tool("evaluation_report", "check_evaluation", "the Train stage's report check")
        release_tool_error = import_release_tool("errors", "ReleaseToolError", "release_tools.errors")
        try:
            result = evaluate_model(
                self.repository,
                self.work_dir / "evaluation",
                code_dir=training.code_dir,
                model_archive=training.model_archive,
                model_data_url=self.model_data_url,
                source_revision=self.options.source_revision,
                champion_archive=champion_archive,
                champion_arn=champion.model_package_arn if champion else None,
                resamples=self.options.resamples,
            )
            check_evaluation(
                result.path.read_bytes(),
                PROJECT_ROOT / "schemas",
                model_data_url=self.model_data_url,
                source_revision=self.options.source_revision,
                champion_arn=champion.model_package_arn if champion else None,
            )
        except (StepFailed, release_tool_error) as error:
            raise _Blocked("Train stage (evaluation)", str(error)) from None
        shutil.copy2(result.path, self.out_dir / "evaluation.json")
        self.result.evaluation = result.document
        metrics = result.document.get("metrics", {})
        shown = ", ".join(f"{name}={entry.get('value')}" for name, entry in list(metrics.items())[:3])
        timing.detail = f"{shown}; champion: {champion.model_package_arn if champion else 'none'}"
        return result

    def register_and_write_train_output(self, sandbox: Sandbox, evaluation: EvaluationResult) -> str:
        """Register the challenger and zip the `TrainOutput` artifact, as the Train stage ends."""
        evaluation_key = f"{self.s3_prefix}/evaluation/evaluation.json"
        sandbox.s3.put_object(Bucket=ARTIFACT_BUCKET, Key=evaluation_key, Body=evaluation.path.read_bytes())
        release_record = import_release_tool("train_output", "ReleaseRecord", "the Train stage's release record")
        count_holdout_uses = import_release_tool("model_registry", "count_holdout_uses", "the Train stage's registry code")
        holdout_sha256 = str(evaluation.document.get("dataset", {}).get("sha256", ""))
        holdout_reuse = count_holdout_uses(sandbox.sagemaker, MODEL_PACKAGE_GROUP, holdout_sha256)
        record = release_record(
            model_package_arn=register_package(
                sandbox.sagemaker,
                model_data_url=self.model_data_url,
                evaluation_uri=f"s3://{ARTIFACT_BUCKET}/{evaluation_key}",
                source_revision=self.options.source_revision,
                training_job_name=f"rehearsal-training-{self.run_id}",
                data_sha256=holdout_sha256,
            ),
            model_package_group_name=MODEL_PACKAGE_GROUP,
            model_data_url=self.model_data_url,
            source_revision=self.options.source_revision,
            evaluation_uri=f"s3://{ARTIFACT_BUCKET}/{evaluation_key}",
            training_job_name=f"rehearsal-training-{self.run_id}",
            holdout_reuse=holdout_reuse,
        )
        self.result.model_package_arn = record.model_package_arn
        files = {
            "evaluation.json": evaluation.path.read_bytes(),
            "release-policy.json": (self.work_dir / "build" / "release-policy.json").read_bytes(),
            "release.json": (json.dumps(asdict(record), indent=2) + "\n").encode("utf-8"),
        }
        golden = self.repository.root / "golden-requests.jsonl"
        if golden.is_file():
            files["golden-requests.jsonl"] = golden.read_bytes()
        return sandbox.put_zip_artifact(f"{self.s3_prefix}/artifacts/{TRAIN_OUTPUT}.zip", files)

    def run_gate(
        self,
        sandbox: Sandbox,
        *,
        gate: str,
        module: str,
        what: str,
        artifact_key: str,
        action: str,
        record_name: str,
        function_environment: Mapping[str, str],
    ) -> ActionRun:
        """Invoke a real handler on the TrainOutput artifact; keep its records; block on failure.

        `action` names the pipeline action: its UserParameters are the synthesized pipeline's
        (`stacks.action_parameters`), with this run's CodePipeline variables resolved.
        """
        handler_module = import_from_lambdas(module, what)
        handler = getattr(handler_module, "handler", None)
        if not callable(handler):
            raise NotAvailableYet(f"{what} ({module}.handler)")
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

    def package(self, sandbox: Sandbox, training: TrainingResult) -> Path:
        """Step 5: `model.tar.gz` built by the pipeline's packager, uploaded where the package points."""
        build_model_tarball = import_release_tool("model_package", "build_model_tarball", "the pipeline's model packager")
        release_tool_error = import_release_tool("errors", "ReleaseToolError", "release_tools.errors")
        try:
            archive = build_model_tarball(training.model_dir, self.repository.root, self.out_dir / "model.tar.gz")
        except release_tool_error as error:
            raise _Blocked("Train stage (packaging)", str(error)) from None
        sandbox.s3.put_object(
            Bucket=ARTIFACT_BUCKET, Key=self.model_data_url.split(f"{ARTIFACT_BUCKET}/", 1)[1], Body=archive.read_bytes()
        )
        return Path(archive)

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
            with self.log.step(STEP_NAMES[1]) as timing:
                training = self._blocking(lambda: self.train(timing), timing)
            sandbox = stack.enter_context(aws_sandbox())
            with self.log.step(STEP_NAMES[2]) as timing:
                champion = self.seed_registry(sandbox, stored_champion)
                evaluation = self._blocking(lambda: self.evaluate(timing, sandbox, training, champion), timing)
                artifact_key = self.register_and_write_train_output(sandbox, evaluation)
            with self.log.step(STEP_NAMES[3]) as timing:
                self._gate_step(
                    timing,
                    sandbox,
                    gate="evaluation gate",
                    module="evaluation_gate.handler",
                    what="the evaluation gate (lambdas/evaluation_gate/handler.py)",
                    artifact_key=artifact_key,
                    action="EvaluationGate",
                )
            with self.log.step(STEP_NAMES[4]) as timing:
                archive = self._blocking(lambda: self.package(sandbox, training), timing)
                timing.detail = f"{archive.stat().st_size} bytes, model.joblib at the root, code/ inside"
            with self.log.step(STEP_NAMES[5]) as timing:
                endpoint = deploy_endpoint(
                    sandbox.sagemaker, stage="staging", model_package_arn=self.result.model_package_arn or "", run_id=self.run_id
                )
                model = load_model_archive(archive, self.work_dir / "serving")
                server = stack.enter_context(running_server(model, endpoint_name=endpoint.endpoint_name))
                self.pipeline_variables["DeployStaging.EndpointName"] = endpoint.endpoint_name
                with urllib.request.urlopen(f"{server.url}/ping", timeout=5) as response:
                    timing.detail = f"{server.url} /ping {response.status}"
            with self.log.step(STEP_NAMES[6]) as timing:
                self.repository.golden_requests  # noqa: B018 - raises "not available yet" when absent
                with environment({"AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": server.url}):
                    self._gate_step(
                        timing,
                        sandbox,
                        gate="staging gate",
                        module="staging_gate.handler",
                        what="the staging gate (lambdas/staging_gate/handler.py)",
                        artifact_key=artifact_key,
                        action="StagingGate",
                    )
            with self.log.step(STEP_NAMES[7]) as timing:
                self._blocking(lambda: self.promote(sandbox, timing, archive, artifact_key, evaluation), timing)
        self.result.released = True

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
        evaluation: EvaluationResult,
    ) -> None:
        """Step 8: the real promote function when it exists, else a labelled local promotion."""

        def run_action(**kwargs: Any) -> ActionRun:
            return self.run_gate(sandbox, module="promote.handler", what=PROMOTE_HANDLER, artifact_key=artifact_key, **kwargs)

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
            metrics=dict(evaluation.document.get("metrics", {})),
        )
        self.result.champion_after = champion
        self.result.promoted_by = promoted_by
        timing.detail = promoted_by


def progress_summary(pytest_output: str) -> str:
    """`5 passed in 0.81s` from pytest's quiet output."""
    lines = [line.strip(" =") for line in pytest_output.splitlines() if " passed" in line or " failed" in line]
    return lines[-1] if lines else "ran"


def run_rehearsal(options: RehearsalOptions, stream: TextIO | None = None) -> RehearsalResult:
    """Run the rehearsal and write the report; return the result.

    A configuration error (including a part of the pipeline not in the
    checkout yet) is raised as `ConfigurationError` after the report is written.
    """
    from rehearsal.report import write_outputs

    out = stream or sys.stdout
    result = _Rehearsal(options, out).run()
    write_outputs(result, options.out_dir.resolve())
    if result.configuration_error:
        raise ConfigurationError(result.configuration_error)
    return result
