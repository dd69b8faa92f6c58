"""`make rehearse` exactly as the README gives it, in a fresh clone, with the default output folder.

The clone is of this checkout's HEAD (`git clone`, then `git checkout <HEAD>`), so it has no
`.rehearsal/` and no untracked files: what a new user gets. The installed environment is
linked in (`.venv`, `node_modules`) as `make setup` would have made it; the clone's set-up
inputs get an old modification time so Make sees that set-up as done instead of reinstalling
from the network. One run, model tests included (about 10 s idle): it is the README's command.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from rehearsal.output_folder import MARKER_FILE
from rehearsal.pipeline_code import PROJECT_ROOT

SETUP_INPUTS = ("requirements.txt", "requirements-dev.txt", "constraints.txt", "package.json", "package-lock.json", ".npmrc")
LONG_AGO = 946_684_800  # 2000-01-01: older than any .venv/.setup-complete


def _git(*arguments: str, cwd: Path) -> str:
    return subprocess.run(["git", *arguments], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture(scope="module")
def fresh_clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    try:
        head = _git("rev-parse", "HEAD", cwd=PROJECT_ROOT)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: nothing to clone")
    clone = tmp_path_factory.mktemp("fresh") / "ml-cicd"
    _git("clone", "--quiet", "--no-checkout", str(PROJECT_ROOT), str(clone), cwd=PROJECT_ROOT)
    _git("checkout", "--quiet", head, cwd=clone)
    for installed in (".venv", "node_modules"):
        (clone / installed).symlink_to((PROJECT_ROOT / installed).resolve(), target_is_directory=True)
    for name in SETUP_INPUTS:
        if (clone / name).exists():
            os.utime(clone / name, (LONG_AGO, LONG_AGO))
    return clone


@pytest.mark.fresh_clone
def test_make_rehearse_releases_in_a_fresh_clone_with_the_default_folder(fresh_clone: Path) -> None:
    environment = {key: value for key, value in os.environ.items() if key not in ("REHEARSAL_OUT", "MAKEFLAGS", "MAKELEVEL")}
    completed = subprocess.run(
        ["make", "rehearse"], cwd=fresh_clone, env=environment, capture_output=True, text=True, timeout=600, check=False
    )
    lines = completed.stdout.strip().splitlines()
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert lines[-2:][0] == "report: .rehearsal/report.md"
    assert lines[-1].startswith("RELEASED: arn:aws:sagemaker:")
    out = fresh_clone / ".rehearsal"
    assert (out / MARKER_FILE).is_file() and (out / "champion" / "champion.json").is_file()
    floors = subprocess.run(
        [str(fresh_clone / ".venv" / "bin" / "python"), "-m", "scripts.platform_floors", "cdk.json"],
        cwd=fresh_clone, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert (out / "platform-floors.json").read_text(encoding="utf-8") == floors
