"""Benchmark: `make synth` against an empty CDK app synthesized through the same command path.

Figure to reach (issue 2): the whole app takes at most 1.6 times as long as
the empty app. Both run `npx cdk synth --quiet --no-notices` (the venv's
Node.js, the pinned CLI, the venv's Python) followed by the summary script;
runs are interleaved and the medians compared. Exits 1 when the figure is missed.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
LIMIT = 1.6
RUNS = 9

EMPTY_APP = """import aws_cdk as cdk
app = cdk.App()
cdk.Stack(app, "Empty")
app.synth()
"""


def timed_synth(project: Path) -> float:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "NPM_CONFIG_USERCONFIG": str(ROOT / ".npmrc")}
    shutil.rmtree(project / "cdk.out", ignore_errors=True)
    start = time.perf_counter()
    subprocess.run(
        [str(BIN / "npx"), "--no-install", "cdk", "synth", "--quiet", "--no-notices"],
        cwd=project,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    subprocess.run(
        [str(BIN / "python"), "-m", "scripts.synth_summary", str(project / "cdk.out")],
        cwd=project,
        env={**env, "PYTHONPATH": str(ROOT)},
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        empty = Path(tmp)
        (empty / "app.py").write_text(EMPTY_APP)
        # Same command path, same CDK configuration: the project's cdk.json with the app swapped for an empty one.
        settings = json.loads((ROOT / "cdk.json").read_text())
        settings["app"] = f"{BIN / 'python'} app.py"
        (empty / "cdk.json").write_text(json.dumps(settings))
        (empty / "node_modules").symlink_to(ROOT / "node_modules")
        whole, baseline = [], []
        for _ in range(RUNS):
            baseline.append(timed_synth(empty))
            whole.append(timed_synth(ROOT))
    ratio = statistics.median(whole) / statistics.median(baseline)
    print(f"empty app: median {statistics.median(baseline):.2f} s {[round(t, 2) for t in baseline]}")
    print(f"whole app: median {statistics.median(whole):.2f} s {[round(t, 2) for t in whole]}")
    print(f"ratio {ratio:.2f} (limit {LIMIT})")
    return 0 if ratio <= LIMIT else 1


if __name__ == "__main__":
    sys.exit(main())
