"""The local inference server: every status code, through raw HTTP and through boto3."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from rehearsal.aws_request_constraints import expected_violations
from rehearsal.errors import ConfigurationError
from rehearsal.inference_model import InferenceModel, choose_accept, load_model_archive
from rehearsal.inference_server import MAX_PAYLOAD_BYTES, RunningServer, running_server
from rehearsal_fixtures import runtime_client as runtime_client_for
from rehearsal_fixtures import write_toy_model_archive

ENDPOINT = "staging-endpoint"
OVERSIZE = b"1," * (MAX_PAYLOAD_BYTES // 2 + 1)


@pytest.fixture(scope="module")
def toy_model(tmp_path_factory: pytest.TempPathFactory) -> InferenceModel:
    directory = tmp_path_factory.mktemp("toy")
    return load_model_archive(write_toy_model_archive(directory), directory)


@pytest.fixture(scope="module")
def server(toy_model: InferenceModel) -> Iterator[RunningServer]:
    with running_server(toy_model, endpoint_name=ENDPOINT) as running:
        yield running


def request(
    server: RunningServer, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, str, bytes]:
    host, port = server.server.server_address[:2]
    connection = http.client.HTTPConnection(host, port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read()
    finally:
        connection.close()


def runtime_client(server: RunningServer) -> Any:
    return runtime_client_for(server.url)


def test_server_binds_to_loopback_only(server: RunningServer) -> None:
    assert server.server.server_address[0] == "127.0.0.1"


def test_ping_answers_200_once_the_model_is_loaded(server: RunningServer) -> None:
    assert request(server, "GET", "/ping")[0] == 200


def test_json_invocation_answers_the_predictions(server: RunningServer) -> None:
    status, content_type, body = request(
        server, "POST", "/invocations", b'{"instances": [[3, 1], [1, 3]]}', {"Content-Type": "application/json"}
    )
    assert (status, content_type) == (200, "application/json")
    assert json.loads(body) == {"predictions": [{"label": 1, "score": 2.0}, {"label": 0, "score": -2.0}]}


def test_csv_invocation_answers_csv_lines(server: RunningServer) -> None:
    status, content_type, body = request(
        server, "POST", "/invocations", b"3,1\n1,3\n", {"Content-Type": "text/csv", "Accept": "text/csv"}
    )
    assert (status, content_type, body) == (200, "text/csv", b"1,2.0\n0,-2.0\n")


@pytest.mark.parametrize(
    ("path", "body", "headers", "status", "fragment"),
    [
        ("/invocations", b'{"rows": []}', {"Content-Type": "application/json"}, 400, "bad application/json payload"),
        ("/invocations", b"\xff\xfe1", {"Content-Type": "text/csv"}, 400, "not UTF-8"),
        ("/nowhere", b"1", {"Content-Type": "text/csv"}, 404, "no such path: POST /nowhere"),
        ("/endpoints/other/invocations", b"1", {"Content-Type": "text/csv"}, 400, "Endpoint other of account"),
        ("/invocations", b"1,2", {"Content-Type": "text/csv", "Accept": "application/xml"}, 406, "Accept"),
        ("/invocations", b"1,2", {"Content-Type": "application/xml"}, 415, "application/xml is not supported"),
        ("/invocations", b"666,1", {"Content-Type": "text/csv"}, 500, "RuntimeError: the model exploded"),
    ],
)
def test_http_errors_carry_status_and_message(
    server: RunningServer, path: str, body: bytes, headers: dict[str, str], status: int, fragment: str
) -> None:
    got_status, content_type, got_body = request(server, "POST", path, body, headers)
    assert (got_status, content_type) == (status, "application/json")
    assert fragment in json.loads(got_body)["Message"]


def test_get_of_an_unknown_path_is_404(server: RunningServer) -> None:
    assert request(server, "GET", "/models")[0] == 404


def test_payload_above_six_megabytes_is_413(server: RunningServer) -> None:
    status, _, body = request(server, "POST", "/invocations", OVERSIZE, {"Content-Type": "text/csv"})
    assert status == 413
    assert "6291456-byte SageMaker limit" in json.loads(body)["Message"]


def test_boto3_runtime_client_gets_both_content_types(server: RunningServer) -> None:
    client = runtime_client(server)
    answer = client.invoke_endpoint(EndpointName=ENDPOINT, ContentType="application/json", Body=b'{"instances": [[3, 1]]}')
    assert answer["ContentType"] == "application/json"
    assert answer["InvokedProductionVariant"] == "AllTraffic"
    assert json.loads(answer["Body"].read())["predictions"][0]["label"] == 1
    answer = client.invoke_endpoint(EndpointName=ENDPOINT, ContentType="text/csv", Accept="text/csv", Body=b"1,3\n")
    assert (answer["ContentType"], answer["Body"].read()) == ("text/csv", b"0,-2.0\n")


@pytest.mark.parametrize(
    ("endpoint", "content_type", "accept", "body", "status", "code"),
    [
        (ENDPOINT, "application/json", None, b"{}", 400, "ModelError"),
        ("unknown", "text/csv", None, b"1,2", 400, "ValidationError"),
        (ENDPOINT, "text/csv", "application/xml", b"1,2", 406, "ModelError"),
        (ENDPOINT, "text/csv", None, OVERSIZE, 413, "ValidationError"),
        (ENDPOINT, "application/xml", None, b"<a/>", 415, "ModelError"),
        (ENDPOINT, "text/csv", None, b"666,0", 500, "ModelError"),
    ],
)
def test_boto3_runtime_client_sees_each_error(
    server: RunningServer, endpoint: str, content_type: str, accept: str | None, body: bytes, status: int, code: str
) -> None:
    extra = {"Accept": accept} if accept else {}
    # The oversize body breaks InvokeEndpoint's `Body` max (service model): let it reach the server, which must refuse it.
    with expected_violations() as seen, pytest.raises(ClientError) as raised:
        runtime_client(server).invoke_endpoint(EndpointName=endpoint, ContentType=content_type, Body=body, **extra)
    assert [violation.path for violation in seen] == (["Body"] if body is OVERSIZE else [])
    error = raised.value.response
    assert (error["ResponseMetadata"]["HTTPStatusCode"], error["Error"]["Code"]) == (status, code)
    assert error["Error"]["Message"]


@pytest.mark.parametrize(
    ("header", "chosen"),
    [(None, "application/json"), ("*/*", "application/json"), ("text/csv;q=1", "text/csv"), ("x/y, text/*", "text/csv")],
)
def test_accept_negotiation(header: str | None, chosen: str) -> None:
    assert choose_accept(header) == chosen


def test_archive_without_inference_code_is_a_configuration_error(tmp_path: Path) -> None:
    archive = tmp_path / "model.tar.gz"
    archive.write_bytes(b"not a tarball")
    with pytest.raises(ConfigurationError, match="not a readable model.tar.gz"):
        load_model_archive(archive, tmp_path / "work")
