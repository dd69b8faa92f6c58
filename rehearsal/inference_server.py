"""A local HTTP server with SageMaker's real-time inference semantics.

It answers the container paths (`GET /ping`, `POST /invocations`) and the
SageMaker Runtime path (`POST /endpoints/<name>/invocations`), so both `curl`
and boto3's `sagemaker-runtime` client (`endpoint_url=http://127.0.0.1:PORT`)
work against it. It binds to 127.0.0.1 only. Error bodies are JSON
`{"ErrorCode", "Message"}` and carry `x-amzn-ErrorType`, so botocore raises a
`ClientError` with a code and the message, while the HTTP status stays the
container's own (400, 404, 406, 411, 413, 415, 500). Every other answer is
JSON too: an unknown method is a 405, a malformed request line a 400, and a
call to an endpoint name that is invalid or not this server's is a 400
`ValidationError` worded as SageMaker Runtime words it.

It serves many clients at once: a listen backlog of `LISTEN_BACKLOG` (the
standard library's default of 5 dropped most of 200 concurrent connections)
and one thread per connection, each connection timed out after
`CLIENT_TIMEOUT_SECONDS` of silence, so a slow or idle client cannot hold a
thread forever.
"""

from __future__ import annotations

import json
import re
import socket
import sys
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from rehearsal.inference_model import InferenceError, InferenceModel
from release_tools.build_signals import raise_if_signalled

__all__ = [
    "CLIENT_TIMEOUT_SECONDS",
    "LISTEN_BACKLOG",
    "MAX_PAYLOAD_BYTES",
    "endpoint_name_problem",
    "InferenceServer",
    "RunningServer",
    "running_server",
    "serve_until_interrupted",
]

MAX_PAYLOAD_BYTES = 6 * 1024 * 1024
"""SageMaker real-time endpoints refuse request payloads above 6 MB."""

_DISCARD_LIMIT_BYTES = 64 * 1024 * 1024
"""Above this, an oversize body is not even read: the connection is closed after the 413."""

LISTEN_BACKLOG = 1024
"""Pending connections the kernel queues (capped by net.core.somaxconn, 4096 on current Linux)."""

CLIENT_TIMEOUT_SECONDS = 60.0
"""A connection silent this long is closed (SageMaker gives a real-time invocation 60 s)."""

SANDBOX_ACCOUNT = "123456789012"
"""The account the rehearsal's sandbox pretends to be, named in "endpoint not found" answers."""

_ENDPOINT_PATH = re.compile(r"^/endpoints/(?P<name>[^/]*)/invocations$")
_ENDPOINT_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9])*")
_ENDPOINT_NAME_PATTERN = "^[a-zA-Z0-9](-*[a-zA-Z0-9])*"
_MAX_ENDPOINT_NAME = 63
"""SageMaker's EndpointName constraint, from the botocore service model (pattern, max 63)."""

_ALLOWED = {"/ping": "GET, HEAD", "/invocations": "POST"}

_ERROR_CODES = {
    400: "ModelError",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "ModelError",
    411: "ValidationError",
    413: "ValidationError",
    415: "ModelError",
    500: "ModelError",
}


def endpoint_name_problem(name: str) -> str | None:
    """Why `name` is not a valid SageMaker endpoint name, or `None` when it is."""
    if len(name) > _MAX_ENDPOINT_NAME:
        return f"{name[:40]!r}... is {len(name)} characters long, above SageMaker's {_MAX_ENDPOINT_NAME}"
    if not _ENDPOINT_NAME.fullmatch(name):
        return f"{name!r} does not match SageMaker's endpoint name pattern {_ENDPOINT_NAME_PATTERN}"
    return None


class _Handler(BaseHTTPRequestHandler):
    """One request; `self.server` is the `InferenceServer` holding the model."""

    server: InferenceServer
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # Every read and write on the connection, headers, body and keep-alive waits alike, times out:
        # handle_one_request then closes the connection and frees the thread.
        self.connection.settimeout(self.server.client_timeout_seconds)
        # Headers and body leave in separate writes: without this, Nagle's algorithm and the
        # client's delayed ACK add ~40 ms to every keep-alive response, skewing the latency rule.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.access_log:
            sys.stderr.write(f"{self.address_string()} {format % args}\n")

    def _send(self, status: int, body: bytes, content_type: str, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The standard library's own errors (bad request line, unknown method...) as JSON, never HTML."""
        if code == 501:  # no do_<METHOD>: the method is not one this server answers
            self._method_not_allowed()
            return
        self.close_connection = True
        self.request_version = self.protocol_version  # a malformed request line still gets status and headers
        self._send_error(code, message or explain or "bad request", error_code="ValidationError")

    def _method_not_allowed(self) -> None:
        self._discard_body()
        allowed = _ALLOWED.get(self._path(), "POST" if _ENDPOINT_PATH.match(self._path()) else "")
        if not allowed:
            self._send_error(404, f"no such path: {self.command} {self._path()}")
            return
        message = f"{self.command} is not allowed on {self._path()}; allowed: {allowed}"
        self._send_error(405, message, extra={"Allow": allowed})

    def _send_error(
        self, status: int, message: str, *, error_code: str | None = None, extra: dict[str, str] | None = None
    ) -> None:
        code = error_code or _ERROR_CODES.get(status, "ModelError")
        body = json.dumps({"ErrorCode": code, "Message": message}).encode("utf-8")
        self._send(status, body, "application/json", {"x-amzn-ErrorType": code, **(extra or {})})

    def _path(self) -> str:
        return self.path.split("?", 1)[0]

    def do_GET(self) -> None:
        if self._path() == "/ping":
            self._send(200, b"", "text/plain")
            return
        self._method_not_allowed()

    do_HEAD = do_GET

    def _endpoint_refusal(self, name: str) -> str | None:
        """SageMaker Runtime's `ValidationError` message for an invalid or unknown endpoint name."""
        name = urllib.parse.unquote(name)
        if endpoint_name_problem(name):
            return (
                f"1 validation error detected: Value '{name[:80]}' at 'endpointName' failed to satisfy constraint: "
                f"Member must satisfy regular expression pattern: {_ENDPOINT_NAME_PATTERN}"
                if len(name) <= _MAX_ENDPOINT_NAME
                else f"1 validation error detected: Value at 'endpointName' failed to satisfy constraint: "
                f"Member must have length less than or equal to {_MAX_ENDPOINT_NAME}"
            )
        served = self.server.endpoint_name
        if served is not None and name != served:
            return f"Endpoint {name} of account {SANDBOX_ACCOUNT} not found."
        return None

    def do_POST(self) -> None:
        path = self._path()
        match = _ENDPOINT_PATH.match(path)
        if path != "/invocations" and match is None:
            self._method_not_allowed()
            return
        refusal = None if match is None else self._endpoint_refusal(match.group("name"))
        if refusal is not None:
            self._discard_body()
            self._send_error(400, refusal, error_code="ValidationError")
            return
        body = self._read_body()
        if body is None:
            return
        try:
            result = self.server.model.invoke(body, self.headers.get("Content-Type"), self.headers.get("Accept"))
        except InferenceError as error:
            self._send_error(error.status, error.message)
            return
        extra = {"x-Amzn-Invoked-Production-Variant": "AllTraffic"} if match else {}
        self._send(200, result.body, result.content_type, extra)

    def _content_length(self) -> int | None:
        raw = self.headers.get("Content-Length")
        if raw is None or not raw.strip().isdigit():
            return None
        return int(raw)

    def _discard_body(self) -> None:
        length = self._content_length()
        if length is not None and length <= _DISCARD_LIMIT_BYTES:
            self._drain(length)
        elif length is not None:
            self.close_connection = True

    def _drain(self, length: int) -> None:
        remaining = length
        while remaining > 0:
            chunk = self.rfile.read(min(remaining, 1024 * 1024))
            if not chunk:
                break
            remaining -= len(chunk)

    def _read_body(self) -> bytes | None:
        """The request body, or `None` after answering 411/413."""
        length = self._content_length()
        if length is None:
            self.close_connection = True
            self._send_error(411, "Content-Length is required")
            return None
        if length > MAX_PAYLOAD_BYTES:
            if length <= _DISCARD_LIMIT_BYTES:
                self._drain(length)
            else:
                self.close_connection = True
            self._send_error(413, f"request payload is {length} bytes, above the {MAX_PAYLOAD_BYTES}-byte SageMaker limit")
            return None
        return self.rfile.read(length)


class InferenceServer(ThreadingHTTPServer):
    """A threading HTTP server bound to 127.0.0.1 serving one `InferenceModel`.

    With `endpoint_name`, `/endpoints/<other>/invocations` is a 404, as a
    call to an endpoint that does not exist; without it any name is served.
    """

    daemon_threads = True
    request_queue_size = LISTEN_BACKLOG

    def __init__(
        self,
        model: InferenceModel,
        port: int = 0,
        *,
        endpoint_name: str | None = None,
        access_log: bool = False,
        client_timeout_seconds: float = CLIENT_TIMEOUT_SECONDS,
    ) -> None:
        self.model = model
        self.endpoint_name = endpoint_name
        self.access_log = access_log
        self.client_timeout_seconds = client_timeout_seconds
        super().__init__(("127.0.0.1", port), _Handler)

    def service_actions(self) -> None:
        """Between polls of `serve_forever`: a Ctrl-C whose exception Python dropped stops the foreground server."""
        if threading.current_thread() is threading.main_thread():
            raise_if_signalled()

    @property
    def url(self) -> str:
        """`http://127.0.0.1:PORT`, the base URL clients use."""
        return f"http://127.0.0.1:{self.server_address[1]}"


@dataclass(frozen=True)
class RunningServer:
    """A server answering requests on a background thread."""

    server: InferenceServer
    thread: threading.Thread

    @property
    def url(self) -> str:
        """Base URL of the server."""
        return self.server.url


@contextmanager
def running_server(
    model: InferenceModel,
    port: int = 0,
    *,
    endpoint_name: str | None = None,
    client_timeout_seconds: float = CLIENT_TIMEOUT_SECONDS,
) -> Iterator[RunningServer]:
    """Serve `model` on `port` (0: an ephemeral one) until the block ends, then stop."""
    server = InferenceServer(model, port, endpoint_name=endpoint_name, client_timeout_seconds=client_timeout_seconds)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield RunningServer(server=server, thread=thread)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def serve_until_interrupted(
    model: InferenceModel,
    port: int,
    *,
    endpoint_name: str | None = None,
    stop_after_seconds: float | None = None,
) -> None:
    """Serve in the foreground (`python -m rehearsal serve`) until Ctrl-C or `stop_after_seconds`."""
    server = InferenceServer(model, port, endpoint_name=endpoint_name, access_log=True)
    timer = None
    try:
        print(f"serving {model.model_dir} at {server.url} (POST /invocations, GET /ping); Ctrl-C stops", flush=True)
        if stop_after_seconds is not None:
            timer = threading.Timer(stop_after_seconds, server.shutdown)
            timer.daemon = True
            timer.start()
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        if timer is not None:
            timer.cancel()
        server.server_close()
