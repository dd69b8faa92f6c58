"""Every decision record put satisfies the artifact bucket's synthesized policy, on every path.

The functions run with the environment the synthesized template gives them, on
success and failure paths (a failed verdict's record is the one that matters
most); every `PutObject` they send to the record bucket is judged against the
Deny statements of the real bucket policy, condition by condition. An unknown
condition operator fails the test instead of being skipped.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterator, Mapping
from typing import Any

import boto3
import pytest
from moto import mock_aws

from evaluation_gate_fixtures import evaluation, policy
from function_kit_fixtures import REGION, aws_credentials, put_zip_artifact
from rehearsal.aws_request_constraints import observed_requests
from rehearsal.codepipeline_double import job_event, record_codepipeline_answers
from tests.synthesis_fixtures import SynthesizedApp

__all__ = ["aws_credentials"]

BUCKET = "artifact-bucket"
KEY_ARN = f"arn:aws:kms:{REGION}:111122223333:key/0c0ffee0-0000-4000-8000-000000000000"
MODEL_KEY = "releases/run-1/model.tar.gz"
# The rest of a TrainOutput the deployed gate accounts for (CHAIN_OF_CUSTODY=required: lambdas/function_kit/custody.py).
TRAIN_OUTPUT: dict[str, Any] = {
    **{f"endpoint/{stage}.{kind}.json": {} for stage in ("staging", "production") for kind in ("template", "config")},
}
ARTIFACT_KEY = "ml-pipeline/TrainOutpu/AbCdE12"


def _resources(template: Mapping[str, Any], kind: str) -> dict[str, Any]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def _artifact_bucket_id(template: Mapping[str, Any]) -> str:
    """The bucket the gates write records to (`RECORD_BUCKET` of the functions)."""
    functions = _resources(template, "AWS::Lambda::Function").values()
    (bucket,) = {
        f["Properties"]["Environment"]["Variables"]["RECORD_BUCKET"]["Ref"]
        for f in functions
        if "RECORD_BUCKET" in f["Properties"].get("Environment", {}).get("Variables", {})
    }
    return str(bucket)


def _put_denials(template: Mapping[str, Any]) -> list[dict[str, Any]]:
    bucket = _artifact_bucket_id(template)
    (document,) = [
        p["Properties"]["PolicyDocument"]
        for p in _resources(template, "AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": bucket}
    ]
    return [
        s
        for s in document["Statement"]
        if s["Effect"] == "Deny" and any(fnmatch.fnmatchcase("s3:PutObject", a) for a in _as_list(s["Action"]))
    ]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _condition_holds(operator: str, key: str, wanted: Any, context: Mapping[str, str]) -> bool:
    """IAM condition semantics for the operators a bucket policy uses here; anything else is an error."""
    values = [str(v).lower() if operator.startswith("Bool") else str(v) for v in _as_list(wanted)]
    present = key in context
    if operator == "Null":
        return (not present) == (values[0] == "true")
    base, if_exists = (operator[: -len("IfExists")], True) if operator.endswith("IfExists") else (operator, False)
    if not present:
        # Absent key: ...IfExists is true; a negated operator matches; the others do not.
        return if_exists or base.startswith("StringNot")
    actual = context[key]
    if base in ("StringEquals", "Bool"):
        return actual in values
    if base == "StringNotEquals":
        return actual not in values
    if base == "StringLike":
        return any(fnmatch.fnmatchcase(actual, v) for v in values)
    if base == "ArnNotEquals":  # the release bucket's writers: role ARNs (tokens, compared as written)
        return actual not in values
    if base == "ArnEquals":  # the release bucket's per-role prefixes (the SageMaker roles), compared as written
        return actual in values
    raise AssertionError(f"condition operator {operator} is not understood by this test: extend it")


def _denied_by(statement: Mapping[str, Any], context: Mapping[str, str]) -> bool:
    conditions = statement.get("Condition", {})
    return all(_condition_holds(op, key, wanted, context) for op, pairs in conditions.items() for key, wanted in pairs.items())


def _request_context(put: Mapping[str, Any], principal: str | None = None) -> dict[str, str]:
    context = {"aws:SecureTransport": "true"}  # boto3 speaks HTTPS to S3
    if principal is not None:
        context["aws:PrincipalArn"] = principal
    if "ServerSideEncryption" in put:
        context["s3:x-amz-server-side-encryption"] = put["ServerSideEncryption"]
    if "SSEKMSKeyId" in put:
        context["s3:x-amz-server-side-encryption-aws-kms-key-id"] = put["SSEKMSKeyId"]
    return context


def _denials_of(put: Mapping[str, Any], statements: list[dict[str, Any]], principal: str | None = None) -> list[str]:
    return [str(s.get("Sid", "?")) for s in statements if _denied_by(s, _request_context(put, principal))]


def _role_arn(template: Mapping[str, Any], handler: str) -> str:
    """The function's role ARN as the bucket policy writes it (`Fn::GetAtt`), in the evaluator's string form."""
    (function,) = [f for f in _resources(template, "AWS::Lambda::Function").values() if f["Properties"].get("Handler") == handler]
    return str({"Fn::GetAtt": [function["Properties"]["Role"]["Fn::GetAtt"][0], "Arn"]})


def _function_environment(template: Mapping[str, Any], handler: str) -> dict[str, str]:
    """The function's variables as deployed: the bucket's name and the key's ARN in place of their tokens."""
    (function,) = [f for f in _resources(template, "AWS::Lambda::Function").values() if f["Properties"].get("Handler") == handler]
    resolved: dict[str, str] = {}
    for name, value in function["Properties"]["Environment"]["Variables"].items():
        if isinstance(value, str):
            resolved[name] = value
        elif "Ref" in value:
            resolved[name] = BUCKET
        elif value.get("Fn::GetAtt", [None, None])[1] == "Arn":
            resolved[name] = KEY_ARN
    return resolved


@pytest.fixture(scope="module")
def template(synthesized: SynthesizedApp) -> dict[str, Any]:
    return synthesized.pipeline


@pytest.fixture
def s3(aws_credentials: None) -> Iterator[Any]:  # noqa: F811
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        client.put_object(Bucket=BUCKET, Key=MODEL_KEY, Body=b"model")  # the model release.json names
        yield client


def test_the_policy_denies_a_put_without_kms_so_the_check_can_fail(template: dict[str, Any]) -> None:
    statements = _put_denials(template)
    gate = _role_arn(template, "evaluation_gate.handler.handler")
    assert _denials_of({"Bucket": BUCKET, "Key": "decision-records/x.json"}, statements, gate)
    assert _denials_of({"ServerSideEncryption": "AES256"}, statements, gate)
    assert not _denials_of({"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": KEY_ARN}, statements, gate)
    # Only the platform's own steps write there: anyone else's put is denied, encrypted or not.
    assert _denials_of({"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": KEY_ARN}, statements, "someone-else")


def _run_evaluation_gate(files: dict[str, Any], monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    from evaluation_gate.handler import handler

    if "evaluation.json" in files and isinstance(files["evaluation.json"], dict):
        # The synthesized floors cap holdout reuse: the Train stage's release.json says the count.
        sagemaker = boto3.client("sagemaker", region_name=REGION)
        sagemaker.create_model_package_group(ModelPackageGroupName="g")
        arn = sagemaker.create_model_package(ModelPackageGroupName="g", ModelApprovalStatus="PendingManualApproval",
                                             InferenceSpecification={"Containers": [{"Image": "i"}],
                                                                     "SupportedContentTypes": ["text/csv"],
                                                                     "SupportedResponseMIMETypes": ["text/csv"]},
                                             )["ModelPackageArn"]  # fmt: skip
        reuse = {"holdout_sha256": files["evaluation.json"]["dataset"]["sha256"], "earlier_candidates": 0}
        put_zip_artifact(
            boto3.client("s3", region_name=REGION),
            BUCKET,
            ARTIFACT_KEY,
            {
                **files,
                "release.json": {
                    "model_package_arn": arn,
                    "holdout_reuse": reuse,
                    "model_data_url": f"s3://{BUCKET}/{MODEL_KEY}",
                },
            },
        )

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    handler(job_event(), None)


def _run_staging_gate(files: dict[str, Any], monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    from staging_gate.handler import run_staging_gate

    run_staging_gate(job_event(user_parameters=json.dumps({"endpoint_name": "#{DeployStaging.EndpointName}"})), environ=env)


def _run_promote(files: dict[str, Any], monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    from promote.handler import run_promote

    run_promote(job_event(user_parameters=json.dumps({"action": "promote", "endpoint_name": "x"})), environ=env)


# The synthesized floors judge roc_auc on its interval: the report states the interval's rigour.
INTERVALS = {"method": "percentile_bootstrap", "confidence": 0.95, "resamples": 2000}
PATHS = [
    (
        "evaluation_gate.handler.handler",
        _run_evaluation_gate,
        {"evaluation.json": evaluation(intervals=INTERVALS), "release-policy.json": policy(), **TRAIN_OUTPUT},
        True,
    ),
    ("evaluation_gate.handler.handler", _run_evaluation_gate, {"release-policy.json": policy()}, False),
    ("evaluation_gate.handler.handler", _run_evaluation_gate, {"evaluation.json": "{not json"}, False),
    ("staging_gate.handler.handler", _run_staging_gate, {}, False),
    ("promote.handler.handler", _run_promote, {}, False),
]


@pytest.mark.parametrize("configured_key", [True, False], ids=["as-synthesized", "without-RECORD_KMS_KEY_ARN"])
@pytest.mark.parametrize(
    ("handler", "run", "files", "passes"),
    PATHS,
    ids=["evaluation-pass", "evaluation-missing-report", "evaluation-invalid-json", "staging-no-endpoint", "promote-no-release"],
)
def test_every_record_put_satisfies_the_bucket_policy(
    template: dict[str, Any],
    s3: Any,
    monkeypatch: pytest.MonkeyPatch,
    handler: str,
    run: Any,
    files: dict[str, Any],
    passes: bool,
    configured_key: bool,
) -> None:
    env = _function_environment(template, handler)
    assert env["RECORD_BUCKET"] == BUCKET and env["RECORD_KMS_KEY_ARN"] == KEY_ARN
    if not configured_key:
        del env["RECORD_KMS_KEY_ARN"]
    put_zip_artifact(s3, BUCKET, ARTIFACT_KEY, files)
    with observed_requests("s3:PutObject") as puts, record_codepipeline_answers() as answers:
        run(files, monkeypatch, env)
    assert answers.succeeded is passes, answers.calls
    records = [p for p in puts if p["Bucket"] == env["RECORD_BUCKET"] and p["Key"].startswith(env["RECORD_PREFIX"])]
    assert len(records) == 2, puts  # the JSON record and its Markdown summary
    statements = _put_denials(template)
    writer = _role_arn(template, handler)
    assert {p["Key"]: _denials_of(p, statements, writer) for p in records} == {p["Key"]: [] for p in records}
    if configured_key:
        assert all(p["SSEKMSKeyId"] == KEY_ARN for p in records)
