"""Benchmark the functions' memory with the largest inputs their bounds allow.

    .venv/bin/python bench/bench_function_memory.py

Each scenario runs one function's handler once in a fresh interpreter (as a
cold Lambda would) with boto3 imported, on inputs at the bounds of
`lambdas/function_kit/input_limits.py`: a 64 MiB artifact, 2 MiB files shaped for
the most memory per byte, 100 golden requests answered with 1 MiB bodies ten
times each, and an 8 MiB evaluation-gate record read back by promote. AWS is faked in-process (artifact bodies stream from a file, as
from S3; nothing is kept). It reports the peak resident set size (what
Lambda's memory limit counts), the resident size after the imports alone, and
the peak of Python allocations during the invocation (tracemalloc, a second
run), and compares the peak with the memory size the functions are
configured with: read from the synthesized template (`cdk.out/`) when there
is one, else from the one place that sets it
(`GateFunctionProps.memory_size`).

Exits 1 unless every peak leaves at least 25 % of the configured memory free.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LAMBDAS = ROOT / "lambdas"
sys.path.insert(0, str(LAMBDAS))

from function_kit.input_limits import (  # noqa: E402 - the lambdas folder is the import root
    MAX_ARTIFACT_BYTES,
    MAX_ENDPOINT_RESPONSE_BYTES,
    MAX_FILE_BYTES,
    MAX_JSON_VALUES,
    MAX_RECORD_BYTES,
)

REQUIRED_HEADROOM = 0.25
MEASURED_FUNCTIONS = ("evaluation_gate", "staging_gate", "promote")
"""The functions that read artifacts and answer CodePipeline jobs."""
PACKAGE_ARN = "arn:aws:sagemaker:eu-west-1:111122223333:model-package/example/2"
RECORD_NAME = "evaluation-gate-record.json"
RECORD_KEY = f"decision-records/evaluation-gate/{RECORD_NAME}"


def configured_memory_mb() -> tuple[int, str]:
    """The functions' MemorySize: every function in the synthesized template, else the props default."""
    template = ROOT / "cdk.out" / "ml-cicd-pipeline.template.json"
    if template.is_file():
        resources = json.loads(template.read_text())["Resources"].values()
        handlers = {f"{function}.handler.handler" for function in MEASURED_FUNCTIONS}
        sizes = {
            r["Properties"].get("MemorySize", 128)
            for r in resources
            if r["Type"] == "AWS::Lambda::Function" and r["Properties"].get("Handler") in handlers
        }
        if sizes:
            return min(sizes), f"{template.relative_to(ROOT)} (MemorySize of the {len(handlers)} functions)"
    import ast  # read the default without importing the CDK (seconds, and a Node.js process)

    source_file = ROOT / "stacks" / "components" / "gate_function.py"
    for node in ast.walk(ast.parse(source_file.read_text())):
        if isinstance(node, ast.ClassDef) and node.name == "GateFunctionProps":
            for item in node.body:
                if isinstance(item, ast.AnnAssign) and getattr(item.target, "id", None) == "memory_size":
                    return ast.literal_eval(item.value), "GateFunctionProps.memory_size (stacks/components/gate_function.py)"
    raise SystemExit("GateFunctionProps.memory_size not found: where is the functions' memory size set?")


# ---------------------------------------------------------------- inputs at the bounds


def _fill(prefix: str, unit: str, suffix: str, *, size: int, values_per_unit: int) -> str:
    """`prefix + unit * n + suffix` as large as both the size and the value bounds allow."""
    by_size = (size - len(prefix) - len(suffix)) // len(unit)
    by_values = (MAX_JSON_VALUES - 4) // values_per_unit
    return prefix + unit * min(by_size, by_values) + suffix


def _metrics_documents(count: int) -> tuple[str, str]:
    names = [f"m{index:05d}_" + "x" * 121 for index in range(count)]
    metrics = {name: {"value": 0.91234567, "higher_is_better": True, "ci_low": 0.9, "ci_high": 0.93} for name in names}
    deltas = {name: {"value": 0.001, "ci_low": -0.002, "ci_high": 0.004} for name in names}
    report = {
        "schema_version": 1,
        "problem_type": "binary_classification",
        "model": {"model_data_url": "s3://b/model.tar.gz", "source_revision": "abc"},
        "dataset": {"name": "holdout", "rows": 171, "sha256": "0" * 64},
        "metrics": metrics,
        "champion": {
            "model_package_arn": PACKAGE_ARN.replace("/2", "/1"),
            "metrics": metrics,
            "comparison": {"method": "paired_bootstrap", "resamples": 2000, "confidence": 0.95, "deltas": deltas},
        },
    }
    policy = {
        "version": 1,
        "metrics": {name: {"min": 0.5, "max": 1.0, "higher_is_better": True} for name in names},
        "champion": {name: {"max_regression": 0.01, "higher_is_better": True} for name in names},
    }
    return json.dumps(report), json.dumps(policy)


def _metrics_report(size: int) -> tuple[str, str]:
    """A valid-shaped evaluation.json and release-policy.json with as many metrics as fit (128-character names)."""
    count = 1000
    while True:
        report, policy = _metrics_documents(count)
        largest = max(len(report), len(policy))
        if largest <= size:
            return report, policy
        count = int(count * size / largest) - 1


def _golden_requests(size: int) -> str:
    """100 golden requests (the most allowed), each a CSV body of as many rows as fit."""
    lines, budget = [], size // 100 - 200
    row = ",".join(["1.2345"] * 30)
    rows = max(1, budget // (len(row) + 40))
    for index in range(100):
        lines.append(
            json.dumps(
                {
                    "name": f"golden-{index:03d}",
                    "content_type": "text/csv",
                    "accept": "application/json",
                    "body": "\n".join([row] * rows),
                    "expect": [{"label": 1}] * rows,
                }
            )
        )
    return "\n".join(lines) + "\n"


def write_artifact(path: Path, files: dict[str, str], *, pad_to: int) -> None:
    """A zip of `files` padded with a stored, incompressible file up to `pad_to` bytes."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    padding = pad_to - path.stat().st_size - 4096
    if padding > 0:
        with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_STORED) as archive:
            archive.writestr("endpoint/padding.bin", random.Random(1).randbytes(padding))
    assert path.stat().st_size <= MAX_ARTIFACT_BYTES, path.stat().st_size


def build_inputs(folder: Path) -> dict[str, Path]:
    """Every scenario's artifact, at the bounds."""
    release = json.dumps({"model_package_arn": PACKAGE_ARN, "model_package_group_name": "example"})
    amplified = _fill("[", "[],", "[]]", size=MAX_FILE_BYTES, values_per_unit=2)
    report, policy = _metrics_report(MAX_FILE_BYTES)
    artifacts = {
        "evaluation-metrics": {"evaluation.json": report, "release-policy.json": policy, "release.json": release},
        "evaluation-amplified": {
            "evaluation.json": amplified,
            "release-policy.json": amplified,
            "release.json": _fill(
                '{"model_package_arn": "' + PACKAGE_ARN + '", "x": [', "{},", "{}]}", size=MAX_FILE_BYTES, values_per_unit=2
            ),
        },
        "staging": {
            "release.json": release,
            "release-policy.json": json.dumps({"version": 1, "staging": {"max_p95_latency_ms": 200, "max_error_rate": 0.0}}),
            "golden-requests.jsonl": _golden_requests(MAX_FILE_BYTES),
        },
        "promote": {
            "release.json": _fill(
                '{"model_package_arn": "' + PACKAGE_ARN + '", "x": [', "[],", "[]]}", size=MAX_FILE_BYTES, values_per_unit=2
            )
        },
        "promote-custody": {"release.json": release},
    }
    paths = {}
    for name, files in artifacts.items():
        for file_name, text in files.items():
            assert len(text.encode()) <= MAX_FILE_BYTES, (name, file_name, len(text))
        paths[name] = folder / f"{name}.zip"
        write_artifact(paths[name], files, pad_to=MAX_ARTIFACT_BYTES)
    # The evaluation gate's record promote's custody check reads back: 200,000 strings in 8 MiB.
    record = _fill(
        '{"inputs": {"custody": null}, "x": [', '"' + "x" * 38 + '",', '""]}', size=MAX_RECORD_BYTES, values_per_unit=1
    )
    assert len(record) <= MAX_RECORD_BYTES
    paths[RECORD_NAME] = folder / RECORD_NAME
    paths[RECORD_NAME].write_text(record)
    return paths


# ---------------------------------------------------------------- the child: one invocation, faked AWS


class _FakeAws:
    """S3 (artifact bodies stream from a file), SageMaker, runtime and CodePipeline, keeping nothing."""

    def __init__(self, artifact: Path) -> None:
        self.artifact, self.answers = artifact, []

    def get_object(self, Key: str, **_: Any) -> dict[str, Any]:  # noqa: N803 - the SDK's names
        source = self.artifact.parent / RECORD_NAME if Key == RECORD_KEY else self.artifact
        return {"ContentLength": source.stat().st_size, "Body": source.open("rb")}

    def put_object(self, **_: Any) -> dict[str, Any]:
        return {}

    def put_job_success_result(self, **request: Any) -> None:
        self.answers.append("success")

    def put_job_failure_result(self, **request: Any) -> None:
        self.answers.append("failure: " + request["failureDetails"]["message"][:120])

    def update_model_package(self, **_: Any) -> dict[str, Any]:
        return {}

    def describe_endpoint(self, EndpointName: str) -> dict[str, Any]:  # noqa: N803 - the SDK's names
        return {"EndpointName": EndpointName, "EndpointStatus": "InService", "EndpointConfigName": "config"}

    def describe_endpoint_config(self, **_: Any) -> dict[str, Any]:
        return {"ProductionVariants": [{"VariantName": "AllTraffic", "ModelName": "model"}]}

    def describe_model(self, **_: Any) -> dict[str, Any]:
        return {"PrimaryContainer": {"ModelPackageName": PACKAGE_ARN}}

    def invoke_endpoint(self, **_: Any) -> dict[str, Any]:
        """1 MiB answers: the first few a JSON document of 30,000 predictions (the most memory a response
        takes while parsed), the rest 1 MiB that is not JSON (parsing stops at once: the bench stays quick)."""
        import io

        self.invocations = getattr(self, "invocations", 0) + 1
        if self.invocations <= 5:
            unit = '{"label": 1, "probability": 0.9},'
            body = '{"predictions": [' + (unit * ((MAX_ENDPOINT_RESPONSE_BYTES - 20) // len(unit))).rstrip(",") + "]}"
        else:
            body = "x" * MAX_ENDPOINT_RESPONSE_BYTES
        return {"Body": io.BytesIO(body.encode()), "ContentType": "application/json"}


def _event(artifact_name: str, user_parameters: dict[str, Any] | None) -> dict[str, Any]:
    configuration = {"FunctionName": "f"}
    if user_parameters is not None:
        configuration["UserParameters"] = json.dumps(user_parameters)
    return {
        "CodePipeline.job": {
            "id": "00000000-0000-0000-0000-000000000000",
            "accountId": "111122223333",
            "data": {
                "actionConfiguration": {"configuration": configuration},
                "inputArtifacts": [
                    {
                        "name": "TrainOutput",
                        "location": {
                            "type": "S3",
                            "s3Location": {"bucketName": "artifacts", "objectKey": f"p/TrainOutpu/{artifact_name}"},
                        },
                    }
                ],
                "artifactCredentials": {"accessKeyId": "A", "secretAccessKey": "S", "sessionToken": "T"},
            },
        }
    }


def _invoke(function: str, aws: _FakeAws, artifact_name: str) -> None:
    if function == "evaluation_gate":
        from evaluation_gate.handler import EvaluationGateServices, run_evaluation_gate

        gate = EvaluationGateServices(
            sagemaker=lambda: aws, records_s3=lambda: aws, artifact_s3=lambda _credentials: aws, codepipeline=aws
        )
        run_evaluation_gate(_event(artifact_name, None), services=gate)
    elif function == "staging_gate":
        from staging_gate.handler import StagingGateServices, run_staging_gate

        services = StagingGateServices(
            sagemaker=lambda: aws,
            runtime=lambda **_timeouts: aws,
            records_s3=lambda: aws,
            artifact_s3=lambda _credentials: aws,
            codepipeline=aws,
        )
        run_staging_gate(_event(artifact_name, {"endpoint_name": "staging", "repetitions": 1}), services=services, environ={})
    else:
        from promote.handler import PromoteServices, run_promote

        services = PromoteServices(
            sagemaker=lambda: aws, records_s3=lambda: aws, artifact_s3=lambda _credentials: aws, codepipeline=aws
        )
        custody = artifact_name == "promote-custody"
        parameters = (
            {"action": "verify_custody", "custody_record": f"s3://records/{RECORD_KEY}"}
            if custody
            else {"action": "verify_production", "endpoint_name": "production"}
        )
        run_promote(_event(artifact_name, parameters), services=services, environ={"RECORD_BUCKET": "records"} if custody else {})


def _peak_rss_mb() -> float:
    """This process's peak resident set size (VmHWM: unlike `ru_maxrss`, not inherited from before `exec`)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(function: str, artifact: Path, trace: bool) -> None:
    import tracemalloc

    import boto3  # noqa: F401 - a function imports it on its first AWS call: part of its footprint
    import botocore.session

    botocore.session.get_session().get_service_model("sagemaker")  # the largest model a function loads
    aws = _FakeAws(artifact)
    after_imports = _peak_rss_mb()
    if trace:
        tracemalloc.start()
    _invoke(function, aws, artifact.stem)
    traced = tracemalloc.get_traced_memory()[1] / 2**20 if trace else None
    peak = _peak_rss_mb()
    print(json.dumps({"after_imports_mb": after_imports, "peak_mb": peak, "traced_mb": traced, "answers": aws.answers}))


# ---------------------------------------------------------------- the parent: every scenario, compared

SCENARIOS = (
    ("evaluation_gate", "evaluation-metrics", "evaluation.json + release-policy.json of 2 MiB each (about 3,000 metrics)"),
    ("evaluation_gate", "evaluation-amplified", "three 2 MiB JSON files of 200,000 empty arrays/objects each"),
    ("staging_gate", "staging", "100 golden requests in 2 MiB, 1 MiB responses, 5 of them 30,000 JSON predictions"),
    ("promote", "promote", "release.json of 2 MiB, 200,000 empty arrays"),
    ("promote", "promote-custody", "the evaluation gate's record of 8 MiB, 200,000 strings (verify_custody)"),
)


def _run_child(function: str, artifact: Path, trace: bool) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(LAMBDAS), "AWS_DEFAULT_REGION": "eu-west-1"}
    command = [sys.executable, __file__, "--child", function, str(artifact)] + (["--trace"] if trace else [])
    output = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> int:
    memory_mb, source = configured_memory_mb()
    print(f"configured memory: {memory_mb} MB, from {source}; required headroom: {REQUIRED_HEADROOM:.0%}")
    print(
        f"bounds: artifact {MAX_ARTIFACT_BYTES >> 20} MiB, file {MAX_FILE_BYTES >> 20} MiB, "
        f"{MAX_JSON_VALUES} JSON values, endpoint response {MAX_ENDPOINT_RESPONSE_BYTES >> 20} MiB, "
        f"record {MAX_RECORD_BYTES >> 20} MiB"
    )
    failed = False
    with tempfile.TemporaryDirectory() as folder:
        artifacts = build_inputs(Path(folder))
        for function, name, what in SCENARIOS:
            measured = _run_child(function, artifacts[name], trace=False)
            traced = _run_child(function, artifacts[name], trace=True)["traced_mb"]
            headroom = 1 - measured["peak_mb"] / memory_mb
            failed |= headroom < REQUIRED_HEADROOM
            print(
                f"{function:16} {name:21} peak RSS {measured['peak_mb']:6.1f} MB (imports {measured['after_imports_mb']:5.1f}), "
                f"invocation allocations {traced:5.1f} MB, headroom {headroom:4.0%}  [{what}; "
                f"answered: {', '.join(measured['answers']) or 'nothing'}]"
            )
    print("FAIL: a peak leaves less than the required headroom" if failed else "ok")
    return 1 if failed else 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2], Path(sys.argv[3]), trace="--trace" in sys.argv)
    else:
        sys.exit(main())
