"""Test helpers for the rehearsal: one shared first release, and a tiny model archive for exercising the server.

`first_release` is a quick rehearsal of the sample model into an empty folder,
run once per test run for every module that judges it (tests/test_rehearsal_run.py
continues from its champion, tests/test_rehearsal_action_parameters.py reads the
job events its Lambda actions were sent).

The archive holds a `code/inference.py` written here, with the four SageMaker
handler functions and a deliberate model failure, so every status code of the
server can be provoked. The real model's archive is tested separately.
"""

from __future__ import annotations

import contextlib
import io
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

__all__ = [
    "FAST",
    "TOY_INFERENCE_SOURCE",
    "FirstRelease",
    "first_release",
    "quick_rehearsal",
    "runtime_client",
    "write_toy_model_archive",
]

FAST = ["--skip-model-tests", "--bootstrap-resamples", "1000"]
"""A quick rehearsal: the model tests skipped, the bootstrap at evaluate.py's minimum of 1000 resamples."""


def quick_rehearsal(out: Path) -> list[str]:
    """`python -m rehearsal run` arguments for a quick rehearsal of the sample model into `out`."""
    from rehearsal.pipeline_code import PROJECT_ROOT

    return ["run", "--out", str(out), "--model-repo", str(PROJECT_ROOT / "model_repo"), *FAST]


@dataclass(frozen=True)
class FirstRelease:
    """The shared first rehearsal: how it ended, its output folder (read only: copy it to continue from it),
    and every CodePipeline job event its Lambda actions were sent, in order."""

    exit_code: int
    stdout: str
    stderr: str
    out_dir: Path
    job_events: list[dict[str, Any]]


def first_release(config: pytest.Config) -> FirstRelease:
    """A quick rehearsal of the sample model into an empty folder, once per test run for all xdist workers."""
    from tests.synthesis_fixtures import shared_once

    with shared_once(config, "first-rehearsal") as folder:
        outcome = folder / "outcome.json"  # written last: its presence means the rehearsal is complete
        if not outcome.is_file():
            outcome.write_text(json.dumps(_rehearse_recording_job_events(folder / "out")), encoding="utf-8")
    recorded = json.loads(outcome.read_text(encoding="utf-8"))
    return FirstRelease(recorded["exit_code"], recorded["stdout"], recorded["stderr"], folder / "out", recorded["job_events"])


def _rehearse_recording_job_events(out_dir: Path) -> dict[str, Any]:
    from rehearsal import pipeline_action
    from rehearsal.cli import main

    events: list[dict[str, Any]] = []
    original = pipeline_action.job_event

    def recording(**kwargs: Any) -> dict[str, Any]:
        event = original(**kwargs)
        events.append(event)
        return event

    stdout, stderr = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        patch.setattr(pipeline_action, "job_event", recording)
        code = main(quick_rehearsal(out_dir))
    return {"exit_code": code, "stdout": stdout.getvalue(), "stderr": stderr.getvalue(), "job_events": events}


TOY_INFERENCE_SOURCE = """
import json

def model_fn(model_dir):
    with open(f"{model_dir}/weights.json") as handle:
        return json.load(handle)

def input_fn(body, content_type):
    if content_type == "application/json":
        try:
            rows = json.loads(body)["instances"]
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(f"expected {{'instances': [[...]]}}: {error}") from None
    else:
        rows = [[float(cell) for cell in line.split(",")] for line in body.splitlines() if line.strip()]
    if not rows:
        raise ValueError("no rows")
    return rows

def predict_fn(rows, model):
    if rows[0][0] == 666:
        raise RuntimeError("the model exploded")
    return [sum(w * x for w, x in zip(model["weights"], row)) for row in rows]

def output_fn(scores, accept):
    if accept == "text/csv":
        return "\\n".join(f"{int(s > 0)},{s}" for s in scores) + "\\n"
    return json.dumps({"predictions": [{"label": int(s > 0), "score": s} for s in scores]}), accept
"""


def write_toy_model_archive(directory: Path) -> Path:
    """Write `model.tar.gz` (weights at the root, code under `code/`) and return its path."""
    archive = directory / "model.tar.gz"
    members = {
        "weights.json": json.dumps({"weights": [1.0, -1.0]}).encode(),
        "code/inference.py": TOY_INFERENCE_SOURCE.encode(),
    }
    with tarfile.open(archive, "w:gz") as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return archive


def runtime_client(url: str) -> Any:
    """A boto3 `sagemaker-runtime` client aimed at a local server, fake credentials, no retries."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "sagemaker-runtime",
        endpoint_url=url,
        region_name="eu-west-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"mode": "standard", "max_attempts": 1}),
    )
