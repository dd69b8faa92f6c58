"""The rehearsal's output folder: claimed with a marker file, locked while a run writes to it.

`--out DIR` may name any path, so the rehearsal writes only into a folder it
owns: one it created, or one that was empty when it claimed it. The claim is
the marker file `DIR/.rehearsal-output`. The folder of a rehearsal from before the marker is
adopted, its `work/` set aside as `work-of-an-older-rehearsal/` (not deleted:
nothing shows that a rehearsal wrote all of it). A non-empty folder without the
marker (a home directory, a project folder) is refused with one line and
nothing in it is touched. Inside an owned folder the rehearsal replaces only
its own outputs (the names listed here) and its own `work/` scratch folder.

A run holds an exclusive `fcntl` lock on `DIR/.rehearsal.lock` from start to
end, so a second rehearsal into the same folder stops at once with "another
rehearsal is running in DIR" instead of racing the first one's files. The
kernel releases the lock when the process ends, however it ends.
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rehearsal.champion_store import CHAMPION_DIR
from rehearsal.errors import ConfigurationError

__all__ = ["LOCK_FILE", "MARKER_FILE", "claim_output_folder", "remove_own_outputs"]

MARKER_FILE = ".rehearsal-output"
LOCK_FILE = ".rehearsal.lock"
_MARKER_TEXT = (
    "This folder is written by the ml-cicd release rehearsal (python -m rehearsal run --out).\n"
    "The rehearsal replaces its own outputs here on every run; delete this folder to start afresh.\n"
)
WORK_DIR = "work"
OLDER_WORK_DIR = "work-of-an-older-rehearsal"
"""Where an adopted older output folder's `work/` goes (kept: delete it yourself once you have looked)."""
OWN_FILES = (
    "report.md",
    "metrics.png",
    "evaluation.json",
    "model.tar.gz",
    "platform-floors.json",
    *(
        f"{record}-decision.{suffix}"
        for record in ("evaluation-gate", "staging-gate", "promotion-verify-production", "promotion-promote")
        for suffix in ("json", "md")
    ),
)
"""Every file the rehearsal writes at the top of its folder (`champion/` is kept between runs)."""


def _claim(folder: Path) -> None:
    """Create `folder` with its marker, or adopt an empty one; refuse a foreign non-empty folder."""
    if folder.exists() and not folder.is_dir():
        raise ConfigurationError(f"--out {folder} is not a folder")
    if (folder / MARKER_FILE).is_file():
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
        foreign = [entry.name for entry in folder.iterdir() if entry.name != LOCK_FILE]
    except OSError as error:
        raise ConfigurationError(f"--out {folder}: cannot use it ({error.strerror})") from None
    if foreign and not _written_by_an_older_rehearsal(folder, foreign):
        raise ConfigurationError(
            f"--out {folder} is not empty and is not a rehearsal output folder (no {MARKER_FILE}): "
            "name a new or empty folder; nothing was changed"
        )
    if foreign:
        _set_aside_older_work(folder)
    (folder / MARKER_FILE).write_text(_MARKER_TEXT, encoding="utf-8")


def _set_aside_older_work(folder: Path) -> None:
    """An adopted folder's `work/` is renamed, never deleted: nothing proves a rehearsal wrote all of it."""
    work = folder / WORK_DIR
    if work.is_dir() and not work.is_symlink():
        try:
            work.rename(folder / OLDER_WORK_DIR)
        except OSError as error:
            raise ConfigurationError(f"--out {folder}: cannot set its older work/ aside ({error.strerror})") from None


def _written_by_an_older_rehearsal(folder: Path, names: list[str]) -> bool:
    """An output folder of a rehearsal from before the marker: only its names, and its report."""
    if not set(names) <= {*OWN_FILES, WORK_DIR, CHAMPION_DIR} or "report.md" not in names:
        return False
    try:
        with (folder / "report.md").open(encoding="utf-8") as report:
            return report.readline().startswith("# Release rehearsal ")
    except (OSError, UnicodeDecodeError):
        return False


@contextmanager
def claim_output_folder(folder: Path) -> Iterator[Path]:
    """Claim `folder` (absolute) and hold its lock for the block; `ConfigurationError` if it cannot."""
    folder = folder.expanduser().resolve()
    _claim(folder)
    try:
        descriptor = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:
        raise ConfigurationError(f"--out {folder}: cannot create its lock ({error.strerror})") from None
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise ConfigurationError(f"another rehearsal is running in {folder}; wait for it to end") from None
            raise ConfigurationError(f"--out {folder}: cannot lock it ({error.strerror})") from None
        os.ftruncate(descriptor, 0)
        os.write(descriptor, f"{os.getpid()}\n".encode())
        yield folder
    finally:
        os.close(descriptor)


def remove_own_outputs(folder: Path) -> None:
    """Remove the previous run's outputs and scratch space from an owned, locked folder."""
    if not (folder / MARKER_FILE).is_file():
        raise ConfigurationError(f"--out {folder} is not a claimed rehearsal output folder")
    work = folder / WORK_DIR
    if work.is_symlink() or work.is_file():
        work.unlink()
    elif work.is_dir():
        shutil.rmtree(work)
    for name in OWN_FILES:
        (folder / name).unlink(missing_ok=True)
