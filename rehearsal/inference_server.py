"""A local HTTP server with SageMaker's real-time inference semantics.

It answers the container paths (`GET /ping`, `POST /invocations`) and the
SageMaker Runtime path (`POST /endpoints/<name>/invocations`), so both `curl`
and boto3's `sagemaker-runtime` client (`endpoint_url=http://127.0.0.1:PORT`)
work against it. It binds to 127.0.0.1 only. Error bodies are JSON
`{"ErrorCode", "Message"}` and carry `x-amzn-ErrorType`, so botocore raises a
`ClientError` with a code and the message, while the HTTP status stays the
container's own (400, 404, 406, 411, 413, 415, 500).
"""

from __future__ import annotations

import json
import re
import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from rehearsal.inference_model import InferenceError, InferenceModel

__all__ = [
    "MAX_PAYLOAD_BYTES",
    "InferenceServer",
    "RunningServer",
    "running_server",
    "serve_until_interrupted",
]

MAX_PAYLOAD_BYTES = 6 * 1024 * 1024
"""SageMaker real-time endpoints refuse request payloads above 6 MB."""

_DISCARD_LIMIT_BYTES = 64 * 1024 * 1024
"""Above this, an oversize body is not even read: the connection is closed after the 413."""

_ENDPOINT_PATH = re.compile(r"^/endpoints/(?P<name>[A-Za-z0-9](?:-*[A-Za-z0-9])*)/invocations$")

_ERROR_CODES = {
    400: "ModelError",
    404: "NotFound",
    406: "ModelError",
    411: "ValidationError",
    413: "ValidationError",
    415: "ModelError",
    500: "ModelError",
}


class _Handler(BaseHTTPRequestHandler):
    """One request; `self.server` is the `InferenceServer` holding the model."""

    server: InferenceServer
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
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

    def _send_error(self, status: int, message: str) -> None:
        code = _ERROR_CODES.get(status, "ModelError")
        body = json.dumps({"ErrorCode": code, "Message": message}).encode("utf-8")
        self._send(status, body, "application/json", {"x-amzn-ErrorType": code})

    def _path(self) -> str:
        return self.path.split("?", 1)[0]

    def do_GET(self) -> None:
        if self._path() == "/ping":
            self._send(200, b"", "text/plain")
            return
        self._send_error(404, f"no such path: GET {self._path()}")

    def do_POST(self) -> None:
        path = self._path()
        match = _ENDPOINT_PATH.match(path)
        if path != "/invocations" and match is None:
            self._discard_body()
            self._send_error(404, f"no such path: POST {path}")
            return
        served = self.server.endpoint_name
        if match is not None and served is not None and match.group("name") != served:
            self._discard_body()
            self._send_error(404, f"endpoint {match.group('name')} not found: this server is endpoint {served}")
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

    def do_PUT(self) -> None:
        self._discard_body()
        self._send_error(404, f"no such path: PUT {self._path()}")

    do_DELETE = do_PUT

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
            self._send_error(
                413, f"request payload is {length} bytes, above the {MAX_PAYLOAD_BYTES}-byte SageMaker limit"
            )
            return None
        return self.rfile.read(length)


class InferenceServer(ThreadingHTTPServer):
    """A threading HTTP server bound to 127.0.0.1 serving one `InferenceModel`.

    With `endpoint_name`, `/endpoints/<other>/invocations` is a 404, as a
    call to an endpoint that does not exist; without it any name is served.
    """

    daemon_threads = True

    def __init__(
        self, model: InferenceModel, port: int = 0, *, endpoint_name: str | None = None, access_log: bool = False
    ) -> None:
        self.model = model
        self.endpoint_name = endpoint_name
        self.access_log = access_log
        super().__init__(("127.0.0.1", port), _Handler)

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
    model: InferenceModel, port: int = 0, *, endpoint_name: str | None = None
) -> Iterator[RunningServer]:
    """Serve `model` on `port` (0: an ephemeral one) until the block ends, then stop."""
    server = InferenceServer(model, port, endpoint_name=endpoint_name)
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
    print(f"serving {model.model_dir} at {server.url} (POST /invocations, GET /ping); Ctrl-C stops", flush=True)
    timer = None
    if stop_after_seconds is not None:
        timer = threading.Timer(stop_after_seconds, server.shutdown)
        timer.daemon = True
        timer.start()
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        if timer is not None:
            timer.cancel()
        server.server_close()
