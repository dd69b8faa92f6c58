"""Benchmark: the rehearsal's local inference server under 200 concurrent clients, on loopback.

200 client threads open their connections at the same moment and each sends
`REQUESTS_PER_CLIENT` CSV invocations over keep-alive to a server on
127.0.0.1 (an ephemeral port; nothing leaves the machine). The model is the
tests' toy model (two weights, `code/inference.py` with the four SageMaker
handlers), so the figure is the server's, not a model's. Prints p50/p95/max
latency per request, throughput and errors; exits non-zero on any error, on
a p95 above `P95_LIMIT_SECONDS`, or if the run exceeds `DEADLINE_SECONDS`.

    .venv/bin/python bench/bench_local_server.py
"""

from __future__ import annotations

import http.client
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(PROJECT_ROOT), str(PROJECT_ROOT / "tests")]

from rehearsal.inference_model import load_model_archive  # noqa: E402
from rehearsal.inference_server import running_server  # noqa: E402
from rehearsal_fixtures import write_toy_model_archive  # noqa: E402

CLIENTS = 200
REQUESTS_PER_CLIENT = 5
DEADLINE_SECONDS = 60.0
P95_LIMIT_SECONDS = 2.0
BODY = b"3,1\n1,3\n"


def _client(port: int, start: threading.Barrier, latencies: list[float], errors: list[str]) -> None:
    start.wait()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        for _ in range(REQUESTS_PER_CLIENT):
            began = time.perf_counter()
            connection.request("POST", "/invocations", BODY, {"Content-Type": "text/csv", "Accept": "text/csv"})
            response = connection.getresponse()
            answer = response.read()
            if response.status != 200 or answer != b"1,2.0\n0,-2.0\n":
                errors.append(f"HTTP {response.status}: {answer[:80]!r}")
                continue
            latencies.append(time.perf_counter() - began)
    except OSError as error:
        errors.append(f"{type(error).__name__}: {error}")
    finally:
        connection.close()


def main() -> int:
    latencies: list[float] = []
    errors: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-server-") as scratch:
        model = load_model_archive(write_toy_model_archive(Path(scratch)), Path(scratch))
        with running_server(model) as server:
            port = server.server.server_address[1]
            start = threading.Barrier(CLIENTS)
            threads = [
                threading.Thread(target=_client, args=(port, start, latencies, errors), daemon=True) for _ in range(CLIENTS)
            ]
            began = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=max(0.0, DEADLINE_SECONDS - (time.perf_counter() - began)))
            wall = time.perf_counter() - began
    unfinished = sum(thread.is_alive() for thread in threads)
    total = CLIENTS * REQUESTS_PER_CLIENT
    if not latencies:
        print(f"no request succeeded; errors: {errors[:3]}")
        return 1
    ordered = sorted(latencies)
    p50 = statistics.median(ordered)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    print(
        f"{CLIENTS} concurrent clients x {REQUESTS_PER_CLIENT} requests: {len(latencies)}/{total} ok, "
        f"{len(errors)} errors, {unfinished} clients unfinished; "
        f"p50 {p50 * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms, max {ordered[-1] * 1000:.1f} ms; "
        f"{len(latencies) / wall:.0f} requests/s over {wall:.2f} s"
    )
    for error in errors[:5]:
        print(f"  error: {error}")
    ok = not errors and not unfinished and p95 <= P95_LIMIT_SECONDS
    print(
        f"limits: no errors, p95 <= {P95_LIMIT_SECONDS * 1000:.0f} ms, {DEADLINE_SECONDS:.0f} s in all: {'ok' if ok else 'FAIL'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
