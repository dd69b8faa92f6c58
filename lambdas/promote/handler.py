"""CodePipeline Lambda invoke action: `verify_custody`, `verify_production` and `promote` (thin I/O).

`UserParameters`: `{"action": "verify_custody" | "verify_production" | "promote", "endpoint_name": "..."
(not for verify_custody), "endpoint_config_name": "..." (optional, the config CloudFormation deployed),
"pipeline_execution_id": "..." (optional, named in the approval description), "custody_record": "s3://..."
(the evaluation gate's decision record; required by verify_custody, checked by verify_production when given)}`.
`verify_custody` runs before each deploy: the TrainOutput files and the model must be exactly what the
evaluation gate judged (`function_kit/custody.py`).
Reads `release.json` from the `TrainOutput` artifact, writes a decision record,
answers the job exactly once and never logs the event.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from contracts.aws_errors import describe_aws_error
from contracts.decision_records import PROMOTE, VERIFY_CUSTODY, VERIFY_PRODUCTION, record_timestamp
from contracts.release_record import ReleaseFileError, release_package_arn, release_text
from function_kit.artifacts import ArtifactError, ArtifactReader
from function_kit.clients import client_of
from function_kit.codepipeline_job import CodePipelineJob, JobOutcome, parse_user_parameters
from function_kit.custody import CustodyError, compare, file_custody, model_custody
from function_kit.decision_record import OUTCOME_FAILED, OUTCOME_PASSED, RuleResult, build_record
from function_kit.input_limits import (
    MAX_RECORD_BYTES,
    BoundedJsonError,
    beyond_bound,
    json_refusal,
    parse_bounded_json,
    read_at_most,
)
from function_kit.pipeline_function import FunctionServices, FunctionSteps, run_pipeline_function
from function_kit.records import outcome_with_record
from function_kit.served_model import ServedModel, ServedModelError, read_served_model
from function_kit.structured_log import gate_logger, log_fields
from function_kit.target_account import EndpointSessions

from .champion_image import ImageTagError, protect_champion_image
from .champion_promotion import PREVIOUS_CHAMPION_KEY, PackageVersion, PromotionError, PromotionPlan, plan_promotion
from .production_check import (
    SERVING,
    WAITING,
    ProductionVerdict,
    WaitTokenError,
    assess_production,
    next_wait_token,
    read_wait_token,
)

__all__ = ["ACTIONS", "PromoteServices", "handler", "promote_steps", "run_promote"]

ACTIONS = ("verify_custody", "verify_production", "promote")
_RECORD_NAMES = {"verify_custody": VERIFY_CUSTODY, "verify_production": VERIFY_PRODUCTION, "promote": PROMOTE}
_LOGGER = gate_logger("promote")


class _Refusal(Exception):
    """An input or AWS problem that fails the action with this one-line message."""


# The production endpoint's account: the pipeline's, or a target account through its reader role.
_ENDPOINT_ACCOUNT = EndpointSessions(session_name="production-verification")


@dataclass(eq=False)
class PromoteServices(FunctionServices):
    """The function's clients and clock (`FunctionServices` plus the registry's and ECR's); tests replace any."""

    sagemaker: Callable[[], Any] = client_of("sagemaker")
    ecr: Callable[[], Any] = client_of("ecr")
    # Reads the production endpoint; None: the reader role's client when ENDPOINT_READER_ROLE_ARN is set,
    # else `sagemaker` (the endpoint is in the pipeline account). The registry is always `sagemaker`.
    endpoint_sagemaker: Callable[[Mapping[str, str]], Any] | None = None


@dataclass(frozen=True)
class _Request:
    action: str
    endpoint_name: str
    endpoint_config_name: str | None
    promoted_by: str
    package_arn: str
    group_name: str | None
    kms_key_id: str | None
    custody_record: str | None = None
    model_data_url: str | None = None
    # The image the release serves (release.json `image_uri`; by digest when it is the repository's own).
    image_uri: str | None = None
    reader: ArtifactReader | None = None


def _text_parameter(params: Mapping[str, Any], key: str, *, required: bool) -> str | None:
    value = params.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or value.startswith("#{"):
        raise _Refusal(f"UserParameters.{key}: {value!r} is not a usable value")
    return value.strip()


def _read_request(job: CodePipelineJob, services: PromoteServices) -> _Request:
    try:
        params = parse_user_parameters(job.user_parameters)
    except ValueError as error:
        raise _Refusal(str(error)) from None
    action = params.get("action")
    if action not in ACTIONS:
        raise _Refusal(f"UserParameters.action: {action!r} is not one of {', '.join(ACTIONS)}")
    endpoint_name = _text_parameter(params, "endpoint_name", required=action != "verify_custody") or ""
    execution = _text_parameter(params, "pipeline_execution_id", required=False)
    promoted_by = f"CodePipeline execution {execution} (job {job.job_id})" if execution else f"CodePipeline job {job.job_id}"
    try:
        reader = ArtifactReader(services.artifact_s3(job.artifact_credentials), job.input_artifacts)
        release_file = reader.require("release.json")
        release = release_file.json()
    except ArtifactError as error:
        raise _Refusal(str(error)) from None
    try:
        arn = release_package_arn(release, where=release_file.where)
    except ReleaseFileError as error:
        raise _Refusal(str(error)) from None
    return _Request(
        action=str(action),
        endpoint_name=str(endpoint_name),
        endpoint_config_name=_text_parameter(params, "endpoint_config_name", required=False),
        promoted_by=promoted_by,
        package_arn=arn,
        group_name=release_text(release, "model_package_group_name"),
        kms_key_id=release_file.kms_key_id,
        custody_record=_text_parameter(params, "custody_record", required=action == "verify_custody"),
        model_data_url=release_text(release, "model_data_url"),
        image_uri=release_text(release, "image_uri"),
        reader=reader,
    )


def _recorded_custody(s3: Any, record_uri: str, environ: Mapping[str, str]) -> Any:
    """The manifest in the evaluation gate's decision record, read from the release bucket only."""
    bucket, _, key = record_uri.removeprefix("s3://").partition("/")
    expected = environ.get("RECORD_BUCKET")
    if not record_uri.startswith("s3://") or not key or not expected or bucket != expected:
        raise _Refusal(f"UserParameters.custody_record: {record_uri!r} is not a record in the release bucket {expected!r}")
    record = _bounded_record(s3, bucket, key, where=f"the evaluation gate's record {record_uri}")
    return (record.get("inputs") or {}).get("custody") if isinstance(record, dict) else None


def _bounded_record(s3: Any, bucket: str, key: str, *, where: str) -> Any:
    """A JSON record within `MAX_RECORD_BYTES` and the JSON bounds, refused on its size before it is read."""
    try:
        response = s3.get_object(Bucket=bucket, Key=key)
        size = response.get("ContentLength")
        if isinstance(size, int) and size > MAX_RECORD_BYTES:
            response["Body"].close()
            raise _Refusal(beyond_bound(where, MAX_RECORD_BYTES, size))
        content = read_at_most(response["Body"], MAX_RECORD_BYTES)
    except _Refusal:
        raise
    except Exception as error:  # noqa: BLE001 - reported as one line
        raise _Refusal(f"{where} cannot be read: {describe_aws_error(error)}") from None
    if content is None:
        raise _Refusal(beyond_bound(where, MAX_RECORD_BYTES))
    try:
        return parse_bounded_json(content.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise _Refusal(f"{where} is not UTF-8 text (byte {error.start})") from None
    except BoundedJsonError as error:
        raise _Refusal(json_refusal(where, error)) from None


def _custody_rule(request: _Request, services: PromoteServices, environ: Mapping[str, str]) -> RuleResult:
    """`custody.unchanged`: the TrainOutput files and the model are exactly what the evaluation gate judged."""
    assert request.custody_record is not None and request.reader is not None
    s3 = services.records_s3()
    recorded = _recorded_custody(s3, request.custody_record, environ)
    complete = request.action == "verify_custody"
    recorded_model = isinstance(recorded, Mapping) and bool(recorded.get("model"))
    try:
        files = file_custody(request.reader, required=complete)
        model = model_custody(s3, request.model_data_url or "", digest=False) if complete or recorded_model else None
    except CustodyError as error:
        raise _Refusal(f"chain of custody: {error}") from None
    problems = compare(recorded, files, model, complete=complete)
    if problems:
        return _rule(
            "custody.unchanged",
            False,
            f"changed since the evaluation gate judged them ({request.custody_record}): {'; '.join(problems)}",
        )
    return _rule(
        "custody.unchanged",
        True,
        f"{len(files['files'])} files and the model "
        f"{'version ' + model['version_id'] if model else '(not recorded)'} are as the evaluation gate "
        f"judged them ({request.custody_record})",
    )


def _package_version(sagemaker: Any, arn: str) -> PackageVersion:
    try:
        package = sagemaker.describe_model_package(ModelPackageName=arn)
    except Exception as error:  # noqa: BLE001 - reported as one line
        raise _Refusal(f"DescribeModelPackage {arn} failed: {describe_aws_error(error)}") from None
    return PackageVersion(
        arn=str(package.get("ModelPackageArn") or arn),
        status=str(package.get("ModelApprovalStatus") or ""),
        created=package["CreationTime"],
        metadata=dict(package.get("CustomerMetadataProperties") or {}),
        approval_description=package.get("ApprovalDescription"),
    )


def _approved_packages(sagemaker: Any, group: str) -> list[PackageVersion]:
    try:
        pages = sagemaker.get_paginator("list_model_packages").paginate(
            ModelPackageGroupName=group, ModelApprovalStatus="Approved", SortBy="CreationTime", SortOrder="Descending"
        )
        summaries = [item for page in pages for item in page.get("ModelPackageSummaryList", [])]
    except Exception as error:  # noqa: BLE001
        raise _Refusal(f"ListModelPackages {group} failed: {describe_aws_error(error)}") from None
    return [
        PackageVersion(arn=s["ModelPackageArn"], status=s.get("ModelApprovalStatus", "Approved"), created=s["CreationTime"])
        for s in summaries
    ]


def _registry(sagemaker: Any, request: _Request, environ: Mapping[str, str]) -> tuple[PackageVersion, list[PackageVersion]]:
    """The release's package and the group's Approved ones (the previous champion described in full)."""
    configured = environ.get("MODEL_PACKAGE_GROUP_NAME") or None
    if configured and request.group_name and configured != request.group_name:
        raise _Refusal(f"release.json names model package group {request.group_name}, but this function promotes in {configured}")
    group = configured or request.group_name
    if not group:
        raise _Refusal("no model package group: set MODEL_PACKAGE_GROUP_NAME or model_package_group_name in release.json")
    release = _package_version(sagemaker, request.package_arn)
    approved = _approved_packages(sagemaker, group)
    # Only the previous champion's metadata matters: describe it in full.
    candidates = {p.arn for p in approved if p.arn != release.arn and p.created <= release.created}
    recorded = release.metadata.get(PREVIOUS_CHAMPION_KEY)
    latest_other = max((p for p in approved if p.arn in candidates), key=lambda p: p.created, default=None)
    wanted = {recorded} if recorded in candidates else ({latest_other.arn} if latest_other else set())
    return release, [_package_version(sagemaker, p.arn) if p.arn in wanted else p for p in approved]


def _apply(sagemaker: Any, plan: PromotionPlan) -> list[str]:
    done = []
    for update in plan.updates:
        try:
            sagemaker.update_model_package(**update)
        except Exception as error:  # noqa: BLE001
            raise _Refusal(f"UpdateModelPackage {update['ModelPackageArn']} failed: {describe_aws_error(error)}") from None
        done.append(f"updated {update['ModelPackageArn']}: {', '.join(sorted(update['CustomerMetadataProperties']))}")
    return done


def _keep_champion_image(services: PromoteServices, sagemaker: Any, package_arn: str, environ: Mapping[str, str]) -> list[str]:
    """Tag the champion's own image so the image repository's lifecycle never expires it."""
    repository, uri = environ.get("MODEL_IMAGE_REPOSITORY_NAME"), environ.get("MODEL_IMAGE_REPOSITORY_URI")
    if not repository or not uri:
        return []
    package = sagemaker.describe_model_package(ModelPackageName=package_arn)
    try:
        tag = protect_champion_image(services.ecr(), package, repository_name=repository, repository_uri=uri)
    except ImageTagError as error:
        raise _Refusal(str(error)) from None
    return [f"the champion's image is kept: tagged {tag} in {repository}"] if tag else []


def _rule(rule_id: str, passed: bool, reason: str) -> RuleResult:
    return RuleResult(rule_id, None, None, None, "==", OUTCOME_PASSED if passed else OUTCOME_FAILED, reason)


def _endpoint_client(services: PromoteServices, environ: Mapping[str, str], registry_client: Any) -> Any:
    if services.endpoint_sagemaker is not None:
        return services.endpoint_sagemaker(environ)
    if EndpointSessions.role_arn(environ) is None:
        return registry_client
    return _ENDPOINT_ACCOUNT.client("sagemaker", environ)


@dataclass
class _Inputs:
    """What the action read: the request, the chain of custody (judged while reading: a changed file or model
    stops it), the production endpoint and, to promote, the registry. A refusal ends the reading."""

    job_id: str
    continuation_token: str | None
    now: datetime
    action: str = "promote"
    kms_key_id: str | None = None
    request: _Request | None = None
    errors: list[str] = field(default_factory=list)
    rules: list[RuleResult] = field(default_factory=list)
    record_inputs: dict[str, Any] = field(default_factory=dict)
    served: ServedModel | None = None
    verdict: ProductionVerdict | None = None
    release: PackageVersion | None = None
    approved: list[PackageVersion] = field(default_factory=list)


@dataclass
class _Decision:
    """The action's rules, errors and notes; the promotion to apply, or the deployment to wait for."""

    rules: list[RuleResult]
    errors: list[str]
    record_inputs: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    plan: PromotionPlan | None = None
    waiting: ProductionVerdict | None = None


def _read_endpoint(inputs: _Inputs, services: PromoteServices, environ: Mapping[str, str]) -> None:
    """The production endpoint, how it compares with the release and, to promote, the registry."""
    request = inputs.request
    assert request is not None
    sagemaker = services.sagemaker()
    try:
        served = read_served_model(_endpoint_client(services, environ, sagemaker), request.endpoint_name)
    except ServedModelError as error:
        raise _Refusal(f"production endpoint {request.endpoint_name}: {error}") from None
    inputs.served = served
    inputs.record_inputs["endpoint"] = served.to_dict()
    inputs.verdict = assess_production(
        served, expected_package_arn=request.package_arn, expected_config_name=request.endpoint_config_name
    )
    if request.action == "promote" and inputs.verdict.state == SERVING:
        inputs.release, inputs.approved = _registry(sagemaker, request, environ)


def _read_all(job: CodePipelineJob, inputs: _Inputs, services: PromoteServices, environ: Mapping[str, str]) -> None:
    try:  # a token CodePipeline hands back must be one this function issued, whatever the endpoint's state
        read_wait_token(job.continuation_token, now=inputs.now.timestamp())
    except WaitTokenError as error:
        raise _Refusal(str(error)) from None
    request = inputs.request = _read_request(job, services)
    inputs.action, inputs.kms_key_id = request.action, request.kms_key_id
    inputs.record_inputs.update(
        endpoint_name=request.endpoint_name, model_package_arn=request.package_arn, image=request.image_uri
    )
    if request.custody_record:
        inputs.rules.append(_custody_rule(request, services, environ))
        inputs.record_inputs["custody_record"] = request.custody_record
    if request.action == "verify_custody" or (inputs.rules and not inputs.rules[-1].passed):
        return  # a changed file or model stops here: nothing else is checked or promoted
    _read_endpoint(inputs, services, environ)


def _read(job: CodePipelineJob, services: PromoteServices, environ: Mapping[str, str]) -> _Inputs:
    inputs = _Inputs(job_id=job.job_id, continuation_token=job.continuation_token, now=services.now())
    try:
        _read_all(job, inputs, services, environ)
    except _Refusal as refusal:
        inputs.errors.append(str(refusal))
    return inputs


def _decide(inputs: _Inputs) -> _Decision:
    """The production rule and the promotion plan (pure)."""
    decision = _Decision(rules=list(inputs.rules), errors=list(inputs.errors), record_inputs=dict(inputs.record_inputs))
    verdict, served = inputs.verdict, inputs.served
    if inputs.errors or verdict is None or served is None or inputs.request is None:
        return decision
    if verdict.state == WAITING:
        if inputs.action == "verify_production":
            decision.waiting = verdict
        else:
            decision.errors.append(f"{verdict.message}: promote runs only once production has settled")
        return decision
    decision.rules.append(_rule("production.serves_release", verdict.state == SERVING, verdict.message))
    if served.last_deployment_config:
        decision.notes.append("the endpoint deploys with SageMaker deployment guardrails (LastDeploymentConfig recorded)")
    if inputs.release is not None:
        try:
            decision.plan = plan_promotion(
                inputs.release, inputs.approved, promoted_by=inputs.request.promoted_by, now=inputs.now
            )
        except PromotionError as error:
            decision.errors.append(str(error))
    return decision


def _promote(inputs: _Inputs, decision: _Decision, services: PromoteServices, environ: Mapping[str, str]) -> None:
    """Apply the plan: the release becomes the champion, and its image is kept."""
    plan = decision.plan
    assert plan is not None and inputs.request is not None
    sagemaker = services.sagemaker()
    try:
        decision.notes += _apply(sagemaker, plan)
        previous = plan.previous_champion or "none (first release)"
        arn = inputs.request.package_arn
        decision.rules.append(_rule("registry.champion", True, f"{arn} is the champion; previous: {previous}"))
        decision.record_inputs["previous_champion"] = plan.previous_champion
        decision.notes += _keep_champion_image(services, sagemaker, arn, environ)
    except _Refusal as refusal:
        decision.errors.append(str(refusal))


def _wait(job: CodePipelineJob, decision: _Decision, services: PromoteServices) -> JobOutcome | None:
    """The answer that asks CodePipeline to invoke again (None, and an error, once the waiting is used up)."""
    assert decision.waiting is not None
    try:
        token = next_wait_token(job.continuation_token, now=services.now().timestamp())
    except WaitTokenError as error:
        decision.errors.append(f"{decision.waiting.message}; {error}")
        return None
    log_fields(_LOGGER, logging.INFO, "production still deploying", job_id=job.job_id, attempt=token.attempt)
    return JobOutcome(succeeded=True, message=f"waiting: {decision.waiting.message}", continuation_token=token.to_json())


def _write(
    job: CodePipelineJob, inputs: _Inputs, decision: _Decision, services: PromoteServices, environ: Mapping[str, str]
) -> JobOutcome:
    """Wait, or promote (when the plan says so) and write the decision record; the answer."""
    if decision.waiting is not None:
        waiting = _wait(job, decision, services)
        if waiting is not None:
            return waiting
    if decision.plan is not None and not decision.errors:
        _promote(inputs, decision, services, environ)
    return _finish(job, services, environ, inputs=inputs, decision=decision)


def promote_steps(
    services: PromoteServices, environ: Mapping[str, str]
) -> FunctionSteps[CodePipelineJob, _Inputs, _Decision, JobOutcome]:
    """The action's read → decide → write, with `services`."""
    return FunctionSteps(
        read=lambda job: _read(job, services, environ),
        decide=_decide,
        write=lambda job, inputs, decision: _write(job, inputs, decision, services, environ),
    )


def _finish(
    job: CodePipelineJob, services: PromoteServices, environ: Mapping[str, str], *, inputs: _Inputs, decision: _Decision
) -> JobOutcome:
    """Write the decision record beside the input artifact and say what to answer."""
    now = record_timestamp(services.now())
    gate = _RECORD_NAMES.get(inputs.action, PROMOTE)
    record = build_record(
        gate=gate,
        rules=decision.rules,
        errors=decision.errors,
        notes=decision.notes,
        inputs=decision.record_inputs,
        job_id=job.job_id,
        decided_at=now,
    )
    outcome = outcome_with_record(
        job,
        gate=gate,
        passed=record.passed,
        decision=record.decision,
        verdict=record.verdict_line(),
        json_text=record.to_json(),
        markdown_text=record.to_markdown(),
        s3_client=services.records_s3(),
        environ=environ,
        kms_key_id=inputs.kms_key_id,
    )
    log_fields(_LOGGER, logging.INFO, f"{gate} decided", job_id=job.job_id, decision=record.decision)
    return outcome


def run_promote(
    event: Any, *, services: PromoteServices | None = None, environ: Mapping[str, str] | None = None
) -> JobOutcome | None:
    """Run the action named in `UserParameters` and answer the job; returns what was answered."""
    chosen = services or PromoteServices()
    env = os.environ if environ is None else environ
    return run_pipeline_function(event, promote_steps(chosen, env), codepipeline_client=chosen.codepipeline, logger=_LOGGER)


def handler(event: Any, context: Any) -> None:
    """Lambda entry point (`promote.handler.handler`)."""
    run_promote(event)
