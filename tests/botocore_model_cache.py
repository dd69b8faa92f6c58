"""One botocore data loader for every session of a test process, so each service model is parsed once per process.

botocore caches what it loads per `Session` (its loader's `instance_cache`), and
the suite makes a new session for almost every test: `moto.mock_aws()` resets
boto3's default session, and each handler under test builds its clients as it
does in Lambda. Every client then parsed its service model again, SageMaker's
several megabytes of JSON among them, in Python (`object_pairs_hook=OrderedDict`):
about a tenth of the whole suite's CPU time went to parsing the same files.

Here every session gets the same `Loader` for the same data path: what botocore
already does for all the clients of one session, for the whole process. The
loader still merges each model's `sdk-extras` once and hands out one object per
model, as within a session. moto's own loader (which merges its `moto-extras`
into its own copies) is left alone: sharing parsed files below the loader would
leak those extras into the clients under test. Installed by tests/conftest.py.
"""

from __future__ import annotations

from botocore import loaders
from botocore import session as botocore_session

__all__ = ["install", "installed"]

_create_loader = loaders.create_loader
_shared: dict[str | None, loaders.Loader] = {}


class _SearchPaths(list[str]):
    """A loader's search paths that each boto3 `Session` appends its own data folder to: kept once, not once per
    session (a list growing with every session would make every later lookup slower)."""

    def append(self, path: str) -> None:
        if path not in self:
            super().append(path)


def _shared_loader(search_path_string: str | None = None) -> loaders.Loader:
    """`botocore.loaders.create_loader`, one loader per data path for the whole process."""
    found = _shared.get(search_path_string)
    if found is None:
        found = _shared[search_path_string] = _create_loader(search_path_string)
        found._search_paths = _SearchPaths(found._search_paths)  # type: ignore[attr-defined]
    return found


def install() -> None:
    """Give every botocore session of this process the one loader of its data path (idempotent)."""
    botocore_session.create_loader = _shared_loader  # type: ignore[attr-defined]


def installed() -> bool:
    return botocore_session.create_loader is _shared_loader  # type: ignore[attr-defined]
