"""The local champion: the model the previous rehearsal promoted, kept for the next one.

Stored under `<out>/champion/`: its serving `model.tar.gz` and `champion.json`
(the package ARN it had, its metrics, when and how it was promoted). The next
rehearsal registers it as the Approved package of the model package group, so
the evaluation compares against it exactly as the pipeline compares against
production.
"""

from __future__ import annotations

import json
import shutil
import signal
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from contracts.aws_errors import describe_exception
from contracts.champion import Champion
from rehearsal.errors import ConfigurationError

__all__ = ["CHAMPION_DIR", "Champion", "champion_archive", "load_champion", "save_champion"]

CHAMPION_DIR = "champion"
_METADATA = "champion.json"
_ARCHIVE = "model.tar.gz"


def load_champion(out_dir: Path) -> Champion | None:
    """The stored champion, `None` before the first promotion; `ConfigurationError` if damaged."""
    directory = out_dir / CHAMPION_DIR
    metadata, archive = directory / _METADATA, directory / _ARCHIVE
    if not metadata.exists():
        return None
    try:
        raw = json.loads(metadata.read_text(encoding="utf-8"))
        champion = Champion(
            model_archive=archive,
            model_package_arn=str(raw["model_package_arn"]),
            source_revision=str(raw["source_revision"]),
            promoted_at=str(raw["promoted_at"]),
            promoted_by=str(raw["promoted_by"]),
            metrics=dict(raw["metrics"]),
        )
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ConfigurationError(
            f"{metadata} is damaged ({describe_exception(error)}); delete {directory} to start without a champion"
        ) from None
    if not archive.is_file():
        raise ConfigurationError(f"{archive} is missing; delete {directory} to start without a champion")
    return champion


def save_champion(
    out_dir: Path,
    *,
    model_archive: Path,
    model_package_arn: str,
    source_revision: str,
    promoted_at: str,
    promoted_by: str,
    metrics: dict[str, Any],
) -> Champion:
    """Replace the stored champion with this model: both files staged, then swapped with Ctrl-C and
    SIGTERM held back, so an interrupt never leaves one champion's archive under another's metadata."""
    directory = out_dir / CHAMPION_DIR
    directory.mkdir(parents=True, exist_ok=True)
    staged = directory / f"{_ARCHIVE}.new"
    shutil.copy2(model_archive, staged)
    champion = Champion(
        model_archive=directory / _ARCHIVE,
        model_package_arn=model_package_arn,
        source_revision=source_revision,
        promoted_at=promoted_at,
        promoted_by=promoted_by,
        metrics=metrics,
    )
    record = {
        key: dict(value) if isinstance(value, Mapping) else value
        for key, value in champion._asdict().items()
        if key != "model_archive"
    }
    staged_metadata = directory / f"{_METADATA}.new"
    staged_metadata.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    with _signals_held((signal.SIGINT, signal.SIGTERM)):
        staged.replace(directory / _ARCHIVE)
        staged_metadata.replace(directory / _METADATA)
    return champion


@contextmanager
def _signals_held(signals: tuple[signal.Signals, ...]) -> Iterator[None]:
    """Hold `signals` back until the block ends, then raise KeyboardInterrupt if one came.

    Python handlers, not a thread signal mask: a mask covers only the calling thread, and the
    kernel may deliver a process signal to another (the local server's threads, for one).
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers run on the main thread only: nothing can interrupt this one
        return
    received: list[int] = []
    previous = {number: signal.signal(number, lambda number, _frame: received.append(number)) for number in signals}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler if handler is not None else signal.SIG_DFL)
    if received:
        raise KeyboardInterrupt


def champion_archive(champion: Champion) -> Path:
    """The stored champion's serving archive (`load_champion` and `save_champion` always keep one)."""
    if champion.model_archive is None:
        raise ConfigurationError(f"the stored champion {champion.model_package_arn} has no serving archive")
    return champion.model_archive
