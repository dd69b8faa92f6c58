"""Hard use and bad input for the rehearsal's command line and its local inference server.

Each answer is one line (or one JSON error), never a traceback, an HTML page,
a dropped connection or data lost outside what the rehearsal owns.
"""

from __future__ import annotations

import contextlib
import http.client
import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from rehearsal.aws_request_constraints import expected_violations
from rehearsal.cli import main
from rehearsal.inference_model import InferenceModel, load_model_archive
from rehearsal.inference_server import RunningServer, running_server
from rehearsal.output_folder import MARKER_FILE, claim_output_folder
from rehearsal.pipeline_code import PROJECT_ROOT
from rehearsal_fixtures import FAST, runtime_client, write_toy_model_archive

CONCURRENT_CLIENTS = 200


@pytest.fixture(scope="module")
def toy_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_toy_model_archive(tmp_path_factory.mktemp("toy-archive"))


@pytest.fixture(scope="module")
def toy_model(toy_archive: Path, tmp_path_factory: pytest.TempPathFactory) -> InferenceModel:
    return load_model_archive(toy_archive, tmp_path_factory.mktemp("toy-model"))


@pytest.fixture(scope="module")
def server(toy_model: InferenceModel) -> Iterator[RunningServer]:
    with running_server(toy_model, endpoint_name="staging", client_timeout_seconds=0.5) as running:
        yield running


def cli(*argv: str) -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main(list(argv))
    return code, stdout.getvalue(), stderr.getvalue()


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0]


# -- the server under load and misuse ----------------------------------------------------------


def _invoke_once(port: int, results: list[object], start: threading.Barrier) -> None:
    start.wait()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("POST", "/invocations", b"3,1\n", {"Content-Type": "text/csv", "Accept": "text/csv"})
        response = connection.getresponse()
        results.append((response.status, response.read()))
    except OSError as error:
        results.append(error)
    finally:
        connection.close()


def test_two_hundred_concurrent_requests_are_all_served(server: RunningServer) -> None:
    port = server.server.server_address[1]
    results: list[object] = []
    start = threading.Barrier(CONCURRENT_CLIENTS)
    threads = [threading.Thread(target=_invoke_once, args=(port, results, start)) for _ in range(CONCURRENT_CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    failures = [result for result in results if result != (200, b"1,2.0\n")]
    assert len(results) == CONCURRENT_CLIENTS and not failures, failures[:3]


def test_a_silent_client_is_disconnected_after_the_timeout(server: RunningServer) -> None:
    with socket.create_connection(server.server.server_address[:2], timeout=10) as client:
        client.sendall(b"POST /invocations HTTP/1.1\r\nContent-Type: text/csv\r\n")  # and then nothing
        started = time.monotonic()
        assert client.recv(1024) == b""  # the server closed the connection
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "BREW", "GET", "HEAD"])
@pytest.mark.parametrize("path", ["/ping", "/invocations", "/endpoints/staging/invocations", "/nowhere"])
def test_every_method_and_path_answers_json(server: RunningServer, method: str, path: str) -> None:
    if (method, path) in {("GET", "/ping"), ("HEAD", "/ping")}:
        return  # the health check itself
    connection = http.client.HTTPConnection(*server.server.server_address[:2], timeout=10)
    try:
        connection.request(method, path, body=b"1,2", headers={"Content-Type": "text/csv"})
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    assert response.status == (404 if path == "/nowhere" else 405)
    assert response.getheader("Content-Type") == "application/json"
    assert response.getheader("x-amzn-ErrorType") in ("NotFound", "MethodNotAllowed")
    if method != "HEAD":
        assert json.loads(body)["Message"]
    if response.status == 405:
        assert response.getheader("Allow") in ("GET, HEAD", "POST")


def test_a_malformed_request_line_is_a_json_400(server: RunningServer) -> None:
    with socket.create_connection(server.server.server_address[:2], timeout=10) as client:
        client.sendall(b"POST /invocations HTTP/9\r\n\r\n")
        chunks = []
        while chunk := client.recv(65536):  # headers and body may arrive in separate segments; the server closes
            chunks.append(chunk)
        answer = b"".join(chunks).decode()
    head, _, body = answer.partition("\r\n\r\n")
    assert head.startswith("HTTP/1.1 400") and "application/json" in head
    assert json.loads(body)["ErrorCode"] == "ValidationError"


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("other", "Endpoint other of account 123456789012 not found."),
        ("bad_name", "failed to satisfy constraint: Member must satisfy regular expression pattern"),
        ("-leading", "failed to satisfy constraint: Member must satisfy regular expression pattern"),
        ("a" * 64, "Member must have length less than or equal to 63"),
    ],
)
def test_a_bad_endpoint_name_is_a_validation_error_as_sagemaker_answers(server: RunningServer, name: str, fragment: str) -> None:
    # The suite's request-constraint hook would refuse the invalid names before they are sent: let them through
    # to the server, which must answer as SageMaker does (and the hook must have seen the invalid ones).
    with expected_violations() as seen, pytest.raises(ClientError) as raised:
        runtime_client(server.url).invoke_endpoint(EndpointName=name, ContentType="text/csv", Body=b"1,2")
    error = raised.value.response
    assert (error["ResponseMetadata"]["HTTPStatusCode"], error["Error"]["Code"]) == (400, "ValidationError")
    assert fragment in error["Error"]["Message"]
    assert bool(seen) is (name != "other")


# -- python -m rehearsal serve -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "fragment"),
    [
        (["--endpoint-name", "bad_name"], "--endpoint-name 'bad_name' does not match"),
        (["--endpoint-name", "x" * 64], "above SageMaker's 63"),
        (["--stop-after", "nan"], "--stop-after nan must be"),
        (["--stop-after", "-1"], "--stop-after -1.0 must be"),
        (["--stop-after", "0"], "--stop-after 0.0 must be"),
        (["--stop-after", "1e9"], "at most a week"),
        (["--port", "70000"], "--port 70000 is not a TCP port"),
    ],
)
def test_serve_refuses_bad_options_in_one_line(toy_archive: Path, option: list[str], fragment: str) -> None:
    # --port 0 --stop-after 3 first (the option under test comes later and wins): a regression that
    # accepted the option would serve for 3 s and fail, not hang the suite.
    code, _, stderr = cli("serve", "--model-data", str(toy_archive), "--port", "0", "--stop-after", "3", *option)
    assert code == 2
    assert fragment in one_line(stderr)


def test_sigterm_stops_the_server_and_removes_the_unpacked_model(toy_archive: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "rehearsal", "serve", "--model-data", str(toy_archive), "--port", "0"],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    first_line = process.stdout.readline()  # "serving <model dir> at http://127.0.0.1:PORT ..."
    model_dir = Path(first_line.split()[1])
    assert model_dir.is_dir(), first_line
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert not model_dir.exists() and not model_dir.parent.exists()


# -- python -m rehearsal run: the output folder --------------------------------------------------


def test_run_refuses_a_foreign_non_empty_folder_and_changes_nothing(tmp_path: Path) -> None:
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "thesis.tex").write_text("years of work", encoding="utf-8")
    (tmp_path / "report.md").write_text("my report", encoding="utf-8")
    (tmp_path / "budget-decision.md").write_text("mine", encoding="utf-8")
    before = sorted(str(path.relative_to(tmp_path)) for path in tmp_path.rglob("*"))
    code, stdout, stderr = cli("run", "--out", str(tmp_path), *FAST)
    assert code == 2 and not stdout
    assert "is not empty and is not a rehearsal output folder" in one_line(stderr)
    assert sorted(str(path.relative_to(tmp_path)) for path in tmp_path.rglob("*")) == before
    assert (tmp_path / "work" / "thesis.tex").read_text(encoding="utf-8") == "years of work"
    assert (tmp_path / "report.md").read_text(encoding="utf-8") == "my report"


def test_an_output_folder_of_an_older_rehearsal_is_adopted_and_its_work_kept(tmp_path: Path) -> None:
    from rehearsal.output_folder import OLDER_WORK_DIR, remove_own_outputs

    (tmp_path / "work" / "notes").mkdir(parents=True)
    (tmp_path / "work" / "notes" / "thesis.tex").write_text("years of work", encoding="utf-8")
    (tmp_path / "champion").mkdir()
    (tmp_path / "report.md").write_text("# Release rehearsal 1a2b3c4d: ✅ RELEASED\n", encoding="utf-8")
    with claim_output_folder(tmp_path) as owned:
        assert (owned / MARKER_FILE).is_file()
        remove_own_outputs(owned)  # what a run does next
    assert (tmp_path / OLDER_WORK_DIR / "notes" / "thesis.tex").read_text(encoding="utf-8") == "years of work"
    assert not (tmp_path / "report.md").exists() and (tmp_path / "champion").is_dir()


def test_a_folder_with_other_files_beside_an_old_report_is_still_refused(tmp_path: Path) -> None:
    (tmp_path / "report.md").write_text("# Release rehearsal 1a2b3c4d: ✅ RELEASED\n", encoding="utf-8")
    (tmp_path / "thesis.tex").write_text("mine", encoding="utf-8")
    code, _, stderr = cli("run", "--out", str(tmp_path), *FAST)
    assert code == 2 and "is not a rehearsal output folder" in one_line(stderr)
    assert not (tmp_path / MARKER_FILE).exists()


def test_run_refuses_a_file_as_its_folder(tmp_path: Path) -> None:
    target = tmp_path / "notes.txt"
    target.write_text("keep", encoding="utf-8")
    code, _, stderr = cli("run", "--out", str(target), *FAST)
    assert (code, one_line(stderr)) == (2, f"rehearsal: --out {target} is not a folder")
    assert target.read_text(encoding="utf-8") == "keep"


@pytest.mark.parametrize(
    ("floors", "fragment"),
    [
        ('{"version": 1, "metrics": {"roc_auc": {"min": "high"}}}', "metrics.roc_auc.min: 'high' is not of type 'number'"),
        ("[1, 2]", "is not of type 'object'"),
        ("{", "JSONDecodeError"),
    ],
)
def test_bad_platform_floors_are_a_configuration_error_not_a_blocked_model(tmp_path: Path, floors: str, fragment: str) -> None:
    path = tmp_path / "floors.json"
    path.write_text(floors, encoding="utf-8")
    code, stdout, stderr = cli("run", "--out", str(tmp_path / "out"), "--platform-floors", str(path), *FAST)
    assert code == 2 and not stdout
    assert fragment in one_line(stderr)
    assert not (tmp_path / "out").exists()


def test_a_second_rehearsal_into_a_busy_folder_says_so(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with claim_output_folder(out):  # what a running rehearsal holds
        code, stdout, stderr = cli("run", "--out", str(out), *FAST)
    assert code == 2 and not stdout
    assert one_line(stderr) == f"rehearsal: another rehearsal is running in {out}; wait for it to end"
    assert sorted(path.name for path in out.iterdir()) == sorted([MARKER_FILE, ".rehearsal.lock"])


def test_a_rehearsal_running_in_another_process_is_seen(tmp_path: Path) -> None:
    """The lock is the kernel's (flock), so it holds across processes, not only within one."""
    out = tmp_path / "out"
    holder = (
        "import sys; from pathlib import Path; from rehearsal.output_folder import claim_output_folder\n"
        "with claim_output_folder(Path(sys.argv[1])):\n    print('held', flush=True); sys.stdin.read()\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", holder, str(out)], cwd=PROJECT_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None and process.stdout.readline() == "held\n"
        code, _, stderr = cli("run", "--out", str(out), *FAST)
    finally:
        process.communicate("", timeout=30)  # end the holder: the kernel releases its lock
    assert (code, one_line(stderr)) == (2, f"rehearsal: another rehearsal is running in {out}; wait for it to end")
    with claim_output_folder(out):  # and it is free again once that process has ended
        pass


def _wait_for_line(process: subprocess.Popen[str], prefix: str, seen: list[str]) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        seen.append(line)
        if line.startswith(prefix):
            return
    raise AssertionError(f"the rehearsal ended before {prefix!r}: {''.join(seen)}")


def test_ctrl_c_reports_what_ran_exits_130_and_a_rerun_completes(tmp_path: Path) -> None:
    out = tmp_path / "out"
    process = subprocess.Popen(
        [sys.executable, "-m", "rehearsal", "run", "--out", str(out), *FAST],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    seen: list[str] = []
    _wait_for_line(process, "[1/8]", seen)
    process.send_signal(signal.SIGINT)
    rest, stderr = process.communicate(timeout=60)
    lines = ("".join(seen) + rest).strip().splitlines()
    assert process.returncode == 130, (lines, stderr)
    assert "Traceback" not in stderr + rest
    assert lines[-1].startswith("INTERRUPTED ") and "run the same command again" in lines[-1]
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "⏹ INTERRUPTED" in report and "| 1 | model tests and policy validation |" in report
    code, stdout, _ = cli("run", "--out", str(out), *FAST)
    assert code == 0, stdout
    assert stdout.strip().splitlines()[-1].startswith("RELEASED: ")


def test_ctrl_c_while_the_champion_is_saved_waits_until_both_files_are_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rehearsal.champion_store import load_champion, save_champion

    archive = tmp_path / "model.tar.gz"
    archive.write_bytes(b"the new champion")
    original_replace = Path.replace

    def replace_then_ctrl_c(self: Path, target: Path) -> Path:
        moved = original_replace(self, target)
        if self.name == "model.tar.gz.new":
            os.kill(os.getpid(), signal.SIGINT)  # between the archive and its metadata
        return moved

    monkeypatch.setattr(Path, "replace", replace_then_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        save_champion(
            tmp_path / "out", model_archive=archive, model_package_arn="arn:new", source_revision="r",
            promoted_at="now", promoted_by="test", metrics={},
        )  # fmt: skip
    champion = load_champion(tmp_path / "out")
    assert champion is not None and champion.model_package_arn == "arn:new"
    assert champion.model_archive.read_bytes() == b"the new champion"
