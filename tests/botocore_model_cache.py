"""botocore's data files (service models, endpoints, partitions) parsed once per test process, not once per session.

botocore caches what it loads per `Session` (its loader's `instance_cache`), and
the suite makes a new session for almost every test: `moto.mock_aws()` resets
boto3's default session, and each handler under test builds its clients as it
does in Lambda. Every client then parsed its service model again, SageMaker's
several megabytes of JSON among them, in Python (`object_pairs_hook=OrderedDict`):
about a fifth of the whole suite's CPU time went to parsing the same files.

botocore treats loaded data as read-only and shares one parsed object between
all the clients of a session already (`Loader.load_data_with_path` is
instance-cached and returns the same object each time); this shares it between
sessions too. Nothing the code under test does changes: it only stops reading
files that never change during a run. Installed by tests/conftest.py.
"""

from __future__ import annotations

from typing import Any

from botocore import loaders

__all__ = ["install", "installed"]

_parse_file = loaders.JSONFileLoader.load_file
_parsed: dict[str, Any] = {}


def _load_file_once(self: loaders.JSONFileLoader, file_path: str) -> Any:
    """`JSONFileLoader.load_file`, looking each path up once per process (None: no such file)."""
    try:
        return _parsed[file_path]
    except KeyError:
        found = _parsed[file_path] = _parse_file(self, file_path)
        return found


def install() -> None:
    """Parse each botocore data file once in this process (idempotent)."""
    loaders.JSONFileLoader.load_file = _load_file_once  # type: ignore[method-assign]


def installed() -> bool:
    return loaders.JSONFileLoader.load_file is _load_file_once
