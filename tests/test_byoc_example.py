"""The bring-your-own-container example's `train` and `serve` run the sample model code as SageMaker would.

SageMaker's container contract, run without a container engine: the entry
points are copied next to the model code (as the example Dockerfile lays out
/opt/program), and ML_ROOT stands for /opt/ml.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import joblib
import pytest
from packaging.requirements import Requirement

PROJECT_ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = PROJECT_ROOT / "examples" / "byoc"
MODEL_REPO = PROJECT_ROOT / "model_repo"


def program_dir(tmp_path: Path) -> Path:
    """/opt/program as the example Dockerfile builds it: the entry points and the model code."""
    program = tmp_path / "program"
    program.mkdir()
    for source in [*MODEL_REPO.glob("*.py"), EXAMPLE / "train", EXAMPLE / "serve"]:
        shutil.copy2(source, program / source.name)
    return program


def run_train(program: Path, ml_root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ML_ROOT": str(ml_root)}
    env.pop("PYTHONPATH", None)
    return subprocess.run(
        [sys.executable, str(program / "train")], cwd=ml_root.parent, env=env, capture_output=True, text=True, timeout=120
    )


def ml_root_with_data(tmp_path: Path, hyperparameters: dict[str, str]) -> Path:
    ml_root = tmp_path / "ml"
    for channel in ("train", "validation"):
        (ml_root / "input" / "data" / channel).mkdir(parents=True)
        shutil.copy2(MODEL_REPO / "data" / f"{channel}.csv", ml_root / "input" / "data" / channel / f"{channel}.csv")
    (ml_root / "input" / "config").mkdir(parents=True)
    (ml_root / "input" / "config" / "hyperparameters.json").write_text(json.dumps(hyperparameters))
    return ml_root


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """/opt/program and /opt/ml after `train` ran with two hyperparameters."""
    tmp_path = tmp_path_factory.mktemp("trained")
    program = program_dir(tmp_path)
    # ml-cicd JSON-encodes every hyperparameter value (release_tools.training_job).
    ml_root = ml_root_with_data(tmp_path, {"C": json.dumps(0.25), "max-iter": json.dumps(300)})
    run = run_train(program, ml_root)
    assert run.returncode == 0, run.stderr
    return program, ml_root


def test_train_runs_the_sample_train_py_with_sagemakers_paths_and_hyperparameters(trained: tuple[Path, Path]) -> None:
    _, ml_root = trained
    model = joblib.load(ml_root / "model" / "model.joblib")
    assert model.named_steps["classify"].C == 0.25 and model.named_steps["classify"].max_iter == 300
    assert not (ml_root / "output" / "failure").exists()


def test_a_failed_training_leaves_one_line_in_sagemakers_failure_file(tmp_path: Path) -> None:
    program = program_dir(tmp_path)
    ml_root = ml_root_with_data(tmp_path, {})
    (ml_root / "input" / "data" / "train" / "train.csv").write_text("not,a,dataset\n")
    run = run_train(program, ml_root)
    assert run.returncode == 1
    failure = (ml_root / "output" / "failure").read_text()
    assert failure == "train.py exited with 1" and "Traceback" not in run.stderr


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def serving(trained: tuple[Path, Path]) -> Iterator[str]:
    program, ml_root = trained
    tmp_path = ml_root.parent
    port = free_port()
    env = {**os.environ, "ML_ROOT": str(ml_root), "SAGEMAKER_BIND_TO_PORT": str(port)}
    server = subprocess.Popen([sys.executable, str(program / "serve")], cwd=tmp_path, env=env, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{url}/ping", timeout=2) as ping:
                    assert ping.status == 200
                break
            except (urllib.error.URLError, ConnectionError):
                assert server.poll() is None, server.stderr.read().decode() if server.stderr else "serve exited"
                assert time.monotonic() < deadline, "serve never answered /ping"
                time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)
        if server.stderr:
            server.stderr.close()


def invoke(url: str, body: str, content_type: str, accept: str) -> tuple[int, str, str]:
    request = urllib.request.Request(
        f"{url}/invocations", data=body.encode(), headers={"Content-Type": content_type, "Accept": accept}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.headers["Content-Type"], answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read().decode()


def test_serve_answers_the_staging_gates_golden_requests_with_the_model_codes_body(serving: str) -> None:
    """The body is output_fn's body (not its `(body, content_type)` tuple), in the content type it chose."""
    golden = [json.loads(line) for line in (MODEL_REPO / "golden-requests.jsonl").read_text().splitlines() if line]
    for request in golden:
        payload = request["body"] if isinstance(request["body"], str) else json.dumps(request["body"])
        status, content_type, body = invoke(serving, payload, request["content_type"], request["accept"])
        assert status == 200, (request["name"], body)
        assert content_type == request["accept"]
        if content_type == "text/csv":
            labels = [int(line.split(",")[0]) for line in body.splitlines()]
        else:
            labels = [row["label"] for row in json.loads(body)["predictions"]]
        assert labels == [expected["label"] for expected in request["expect"]], request["name"]


def test_serve_refuses_a_bad_request_with_one_line(serving: str) -> None:
    status, content_type, body = invoke(serving, "1,2,3", "text/csv", "text/csv")
    assert status == 400 and content_type == "application/json"
    assert "\n" not in body and "Traceback" not in body and json.loads(body)["error"]


def test_the_example_image_pins_satisfy_the_model_repositorys_requirements() -> None:
    """A champion pickled under the prebuilt image's numpy 2 must load in the example image (numpy 2 too)."""
    dockerfile = (EXAMPLE / "Dockerfile").read_text()
    pins = dict(re.findall(r"\b([A-Za-z][\w.-]*)==([\w.]+)", dockerfile))
    for line in (MODEL_REPO / "requirements.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            requirement = Requirement(line)
            assert requirement.name in pins, f"the example image does not pin {requirement.name}"
            assert requirement.specifier.contains(pins[requirement.name]), f"{requirement.name}=={pins[requirement.name]}"
