"""Run a Python script and record its jsii calls: which thread made them and whether two ever overlapped.

Usage: python tests/jsii_call_probe.py REPORT.json SCRIPT.py [ARGS...]

The jsii client sends each call down one pipe to the jsii process and reads
the answer back; it is not thread-safe. The probe serializes the calls with a
lock (so an overlap cannot corrupt the pipe while it is being observed) and
writes REPORT.json when the script ends:

* `contended`: calls that found another thread's call in flight;
* `creates`: every object the script created in jsii, with its thread and the
  `stacks.*` modules imported while the creation was in flight.
"""

from __future__ import annotations

import atexit
import json
import runpy
import sys
import threading
from pathlib import Path
from typing import Any

from jsii._kernel.providers import process

__all__ = ["install"]


def install(report_path: Path) -> dict[str, Any]:
    """Wrap the jsii client's send; the report is written to `report_path` at exit."""
    lock = threading.RLock()
    report: dict[str, Any] = {"calls": 0, "contended": [], "creates": []}
    send = process._NodeProcess.send

    def probed_send(self: Any, request: Any, response_type: Any) -> Any:
        kind = type(request).__name__
        what = getattr(request, "fqn", None) or getattr(request, "method", None) or getattr(request, "name", "")
        thread = threading.current_thread().name
        if not lock.acquire(blocking=False):
            report["contended"].append(f"{thread}: {kind} {what}")
            lock.acquire()
        try:
            before = {name for name in sys.modules if name.startswith("stacks.")}
            report["calls"] += 1
            response = send(self, request, response_type)
            if kind == "CreateRequest":
                during = sorted({name for name in sys.modules if name.startswith("stacks.")} - before)
                report["creates"].append({"fqn": what, "thread": thread, "imported_meanwhile": during})
            return response
        finally:
            lock.release()

    process._NodeProcess.send = probed_send  # type: ignore[method-assign]
    atexit.register(lambda: report_path.write_text(json.dumps(report, indent=1)))
    return report


if __name__ == "__main__":
    report_file, script, *args = sys.argv[1:]
    install(Path(report_file))
    sys.argv = [script, *args]
    sys.path.insert(0, str(Path(script).resolve().parent))
    runpy.run_path(script, run_name="__main__")
