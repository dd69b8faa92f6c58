"""CodePipeline Lambda invoke action: the staging gate (thin I/O around `staging_decision`).

Reads `release.json`, `release-policy.json` and `golden-requests.jsonl` from
the `TrainOutput` artifact, checks that the staging endpoint named in
`UserParameters` serves the release's model package, sends the golden
requests, writes the decision record and answers the job exactly once. The
event is never logged (it carries the job's artifact credentials).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from contracts.decision_records import record_timestamp
from contracts.platform_floors import FLOORS_VARIABLE, parse_platform_floors
from contracts.release_policy import (
    MergedPolicy,
    PolicyError,
    merge,
    parse_release_policy,
)
from contracts.release_record import ReleaseFileError, release_package_arn, release_text
from function_kit.artifacts import ArtifactError, ArtifactReader
from function_kit.codepipeline_job import (
    CodePipelineJob,
    JobOutcome,
    parse_user_parameters,
)
from function_kit.pipeline_function import FunctionServices, FunctionSteps, run_pipeline_function
from function_kit.records import outcome_with_record
from function_kit.served_model import ServedModelError, package_mismatch, read_served_model
from function_kit.structured_log import gate_logger, log_fields
from function_kit.target_account import EndpointSessions

from .endpoint_probe import ANSWER_RESERVE_MS, MAX_REPETITIONS, probe_endpoint, runtime_client
from .golden_requests import GoldenRequest, GoldenRequestsError, parse_golden_requests
from .staging_decision import GATE_NAME, Attempt, StagingDecision, decide_staging
from .warmup import ProbeSettings, ProbeSettingsError, WarmupResult, warm_up

__all__ = ["DEFAULT_REPETITIONS", "StagingGateServices", "handler", "run_staging_gate", "staging_gate_steps"]

DEFAULT_REPETITIONS = 3
_LOGGER = gate_logger("staging_gate")


# The staging endpoint's account: the pipeline's, or a target account through its reader role.
_ENDPOINT_ACCOUNT = EndpointSessions(session_name="staging-gate")


def _sagemaker_client() -> Any:
    return _ENDPOINT_ACCOUNT.client("sagemaker")


def _runtime_client(*, connect_timeout: int, read_timeout: int) -> Any:
    return runtime_client(connect_timeout=connect_timeout, read_timeout=read_timeout, session=_ENDPOINT_ACCOUNT.session())


@dataclass(eq=False)
class StagingGateServices(FunctionServices):
    """The gate's clients and clocks (`FunctionServices` plus the endpoint's); tests replace any of them.

    `runtime(connect_timeout=..., read_timeout=...)` builds a sagemaker-runtime client (one for the
    warm-up, one for the measured calls: their read timeouts differ).
    """

    sagemaker: Callable[[], Any] = _sagemaker_client
    runtime: Callable[..., Any] = _runtime_client
    clock: Callable[[], float] = time.perf_counter


@dataclass
class _Inputs:
    """What the gate read and measured: the job's parameters and files, the endpoint, and its answers."""

    job_id: str = ""
    started_at: str = ""
    decided_at: str = ""
    endpoint_name: str | None = None
    repetitions: int = DEFAULT_REPETITIONS
    package_arn: str | None = None
    # The image the release serves (release.json `image_uri`; by digest when it is the repository's own).
    image_uri: str | None = None
    merged: MergedPolicy | None = None
    requests: tuple[GoldenRequest, ...] = ()
    kms_key_id: str | None = None
    probe: ProbeSettings = field(default_factory=ProbeSettings)
    errors: list[str] = field(default_factory=list)
    served_problem: str | None = None
    endpoint_checked: bool = False
    served: dict[str, Any] | None = None
    warmup: WarmupResult | None = None
    attempts: tuple[Attempt, ...] = ()


def _read_parameters(job: CodePipelineJob, inputs: _Inputs) -> None:
    try:
        params = parse_user_parameters(job.user_parameters)
    except ValueError as error:
        inputs.errors.append(str(error))
        return
    endpoint_name = params.get("endpoint_name")
    if not isinstance(endpoint_name, str) or not endpoint_name.strip() or endpoint_name.startswith("#{"):
        inputs.errors.append(f"UserParameters.endpoint_name: {endpoint_name!r} is not an endpoint name")
    else:
        inputs.endpoint_name = endpoint_name.strip()
    repetitions = params.get("repetitions", DEFAULT_REPETITIONS)
    if isinstance(repetitions, bool) or not isinstance(repetitions, int) or not 1 <= repetitions <= MAX_REPETITIONS:
        inputs.errors.append(f"UserParameters.repetitions: {repetitions!r} is not an integer from 1 to {MAX_REPETITIONS}")
    else:
        inputs.repetitions = repetitions


def _read_release(reader: ArtifactReader, inputs: _Inputs) -> None:
    release_file = reader.require("release.json")
    inputs.kms_key_id = release_file.kms_key_id
    release = release_file.json()
    inputs.image_uri = release_text(release, "image_uri")
    try:
        inputs.package_arn = release_package_arn(release, where=release_file.where)
    except ReleaseFileError as error:
        inputs.errors.append(str(error))


def _read_policy(reader: ArtifactReader, environ: Mapping[str, str], inputs: _Inputs) -> None:
    floors = parse_platform_floors(environ.get(FLOORS_VARIABLE))
    policy_file = reader.require("release-policy.json")
    inputs.merged = merge(floors, parse_release_policy(policy_file.json(), origin=policy_file.where))


def _read_golden(reader: ArtifactReader, inputs: _Inputs) -> None:
    golden_file = reader.require("golden-requests.jsonl")
    inputs.requests = parse_golden_requests(golden_file.text(), origin=golden_file.where)


def _read_artifacts(job: CodePipelineJob, services: StagingGateServices, environ: Mapping[str, str], inputs: _Inputs) -> None:
    """Read the three inputs; each problem is recorded, none stops the others being read."""
    try:
        reader = ArtifactReader(services.artifact_s3(job.artifact_credentials), job.input_artifacts)
    except ArtifactError as error:
        inputs.errors.append(str(error))
        return
    for step in (
        lambda: _read_release(reader, inputs),
        lambda: _read_policy(reader, environ, inputs),
        lambda: _read_golden(reader, inputs),
    ):
        try:
            step()
        except (ArtifactError, PolicyError, GoldenRequestsError) as error:
            inputs.errors.append(str(error))


def _check_served_model(services: StagingGateServices, inputs: _Inputs) -> None:
    """Does the endpoint serve the release's model package, InService? (Sets `served_problem` when not.)"""
    if inputs.errors or not inputs.endpoint_name or not inputs.package_arn:
        return
    try:
        served = read_served_model(services.sagemaker(), inputs.endpoint_name)
    except ServedModelError as error:
        inputs.errors.append(f"staging endpoint {inputs.endpoint_name}: {error}")
        return
    inputs.endpoint_checked = True
    inputs.served = served.to_dict()
    if served.status != "InService":
        inputs.served_problem = f"endpoint {inputs.endpoint_name} is {served.status}, not InService"
    else:
        inputs.served_problem = package_mismatch(served, inputs.package_arn)


def _probe(services: StagingGateServices, inputs: _Inputs, remaining_ms: Callable[[], int] | None) -> None:
    """Warm the endpoint up, then send the golden requests (only to the endpoint serving the release)."""
    if not inputs.endpoint_checked or inputs.served_problem is not None:
        return
    inputs.warmup = _warm_up(services, inputs, remaining_ms)
    settings = inputs.probe
    result = probe_endpoint(
        services.runtime(connect_timeout=settings.connect_timeout_seconds, read_timeout=settings.read_timeout_seconds),
        inputs.endpoint_name or "",
        inputs.requests,
        repetitions=inputs.repetitions,
        clock=services.clock,
        remaining_ms=remaining_ms,
        call_seconds=settings.measured_call_seconds,
    )
    inputs.attempts = result.attempts
    if result.aborted:
        inputs.errors.append(result.aborted)


def _read(
    job: CodePipelineJob,
    services: StagingGateServices,
    environ: Mapping[str, str],
    remaining_ms: Callable[[], int] | None,
) -> _Inputs:
    """The job's parameters and files, the endpoint's state and its answers to the golden requests."""
    inputs = _Inputs(job_id=job.job_id, started_at=record_timestamp(services.now()))
    try:
        inputs.probe = ProbeSettings.from_environment(environ)
    except ProbeSettingsError as error:
        inputs.errors.append(str(error))
    _read_parameters(job, inputs)
    _read_artifacts(job, services, environ, inputs)
    _check_served_model(services, inputs)
    _probe(services, inputs, remaining_ms)
    inputs.decided_at = record_timestamp(services.now())
    return inputs


def _decide(inputs: _Inputs) -> StagingDecision:
    """`staging_decision.decide_staging` on what was read and measured (pure)."""
    return decide_staging(
        requests=inputs.requests,
        attempts=inputs.attempts,
        staging_bounds=inputs.merged.staging if inputs.merged else None,
        served_problem=inputs.served_problem,
        endpoint_checked=inputs.endpoint_checked,
        errors=inputs.errors,
        notes=[inputs.warmup.note()] if inputs.warmup else [],
        policy=inputs.merged.to_dict() if inputs.merged else None,
        inputs={
            "endpoint_name": inputs.endpoint_name,
            "model_package_arn": inputs.package_arn,
            "image": inputs.image_uri,
            "golden_requests": len(inputs.requests),
            "repetitions": inputs.repetitions,
            "endpoint": inputs.served,
            "probe": inputs.probe.to_dict(),
            "warmup": inputs.warmup.to_dict() if inputs.warmup else None,
        },
        job_id=inputs.job_id,
        started_at=inputs.started_at,
        decided_at=inputs.decided_at,
    )


def _warm_up(services: StagingGateServices, inputs: _Inputs, remaining_ms: Callable[[], int] | None) -> WarmupResult | None:
    """Wake the endpoint with the first golden request (bounded; reported, not judged)."""
    settings = inputs.probe
    if not inputs.requests or settings.warmup_max_attempts == 0:
        return None
    client = services.runtime(connect_timeout=settings.connect_timeout_seconds, read_timeout=settings.warmup_read_timeout_seconds)
    return warm_up(
        client,
        inputs.endpoint_name or "",
        inputs.requests[0],
        settings=settings,
        clock=services.clock,
        remaining_ms=remaining_ms,
        reserve_ms=settings.measured_call_seconds * 1000 + ANSWER_RESERVE_MS,
    )


def _write(
    job: CodePipelineJob, inputs: _Inputs, decision: StagingDecision, services: StagingGateServices, environ: Mapping[str, str]
) -> JobOutcome:
    """Write the decision record beside the input artifact and say what to answer."""
    record = decision.record
    outcome = outcome_with_record(
        job,
        gate=GATE_NAME,
        passed=record.passed,
        decision=record.decision,
        verdict=record.verdict_line(),
        json_text=decision.to_json(),
        markdown_text=decision.to_markdown(),
        s3_client=services.records_s3(),
        environ=environ,
        kms_key_id=inputs.kms_key_id,
    )
    log_fields(
        _LOGGER,
        logging.INFO,
        "staging gate decided",
        job_id=job.job_id,
        decision=record.decision,
        record=outcome.output_variables.get("record_uri") if outcome.output_variables else None,
    )
    return outcome


def staging_gate_steps(
    services: StagingGateServices, environ: Mapping[str, str], remaining_ms: Callable[[], int] | None
) -> FunctionSteps[CodePipelineJob, _Inputs, StagingDecision, JobOutcome]:
    """The gate's read → decide → write, with `services`."""
    return FunctionSteps(
        read=lambda job: _read(job, services, environ, remaining_ms),
        decide=_decide,
        write=lambda job, inputs, decision: _write(job, inputs, decision, services, environ),
    )


def run_staging_gate(
    event: Any,
    *,
    services: StagingGateServices | None = None,
    environ: Mapping[str, str] | None = None,
    remaining_ms: Callable[[], int] | None = None,
) -> JobOutcome | None:
    """Run the gate on `event` and answer its job; returns what was answered."""
    chosen = services or StagingGateServices()
    env = os.environ if environ is None else environ
    return run_pipeline_function(
        event, staging_gate_steps(chosen, env, remaining_ms), codepipeline_client=chosen.codepipeline, logger=_LOGGER
    )


def handler(event: Any, context: Any) -> None:
    """Lambda entry point (`staging_gate.handler.handler`)."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    run_staging_gate(event, remaining_ms=remaining if callable(remaining) else None)
