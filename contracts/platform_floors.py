"""Platform floors: the platform's release policy, merged with every repository's (stricter wins).

They have the shape of `release-policy.json` (version 1) and are checked by the same parser
(`contracts.release_policy`). The app validates them at synth time (`stacks/config.py`) and hands
them to the functions and builds as the `PLATFORM_FLOORS` variable; this module is the one reader
of that variable (evaluation gate, staging gate, the Build stage's image gate) and the one
normaliser of the configured document.

No floors are written three ways, all meaning "none": the variable unset or blank, and the empty
object `{}` (what the app hands over when `ml-cicd.platform_floors` is absent, `null` or `{}`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from contracts.release_policy import PolicyError, ReleasePolicy, parse_release_policy

__all__ = [
    "FLOORS_VARIABLE",
    "floors_document",
    "parse_platform_floors",
    "read_platform_floors",
]

FLOORS_VARIABLE = "PLATFORM_FLOORS"
"""The environment variable the functions and the builds read the floors from (JSON)."""

_RULE_SECTIONS = ("metrics", "champion")


def read_platform_floors(document: Any, *, origin: str = FLOORS_VARIABLE) -> ReleasePolicy | None:
    """A parsed floors document as a policy: `None` for `null` or `{}`. Raises `PolicyError`."""
    if document is None or (isinstance(document, Mapping) and not document):
        return None
    return parse_release_policy(document, origin=origin)


def parse_platform_floors(raw: str | None, *, origin: str = FLOORS_VARIABLE) -> ReleasePolicy | None:
    """The `PLATFORM_FLOORS` text as a policy; `None` when unset, blank or `{}`. Raises `PolicyError`.

    One error format for every reader: `PLATFORM_FLOORS: not valid JSON (<cause> at line L, column C)`,
    or the policy parser's `PLATFORM_FLOORS: <key path>: <cause>`.
    """
    if raw is None or not raw.strip():
        return None
    try:
        document = json.loads(raw, parse_constant=_refuse_constant)
    except json.JSONDecodeError as error:
        cause = f"not valid JSON ({error.msg} at line {error.lineno}, column {error.colno})"
        raise PolicyError(f"{origin}: {cause}", cause=cause) from None
    except (ValueError, RecursionError) as error:  # NaN/Infinity, a number beyond Python's digit limit, deep nesting
        cause = f"not valid JSON ({str(error).splitlines()[0] if str(error) else type(error).__name__})"
        raise PolicyError(f"{origin}: {cause}", cause=cause) from None
    return read_platform_floors(document, origin=origin)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def floors_document(raw: Any, *, origin: str) -> dict[str, Any]:
    """The configured floors, validated, as the JSON document the functions get (`{}` for none).

    `version` may be left out (it can only be 1); `null` sections and empty rule sections are dropped.
    Everything else is kept as written, so the synthesized `PLATFORM_FLOORS` is the configuration.
    Raises `PolicyError` (its `path` names the key) for anything the functions would refuse.
    """
    if raw is None or (isinstance(raw, Mapping) and not raw):
        return {}
    if not isinstance(raw, Mapping):
        raise PolicyError(
            f"{origin}: expected a mapping, got {type(raw).__name__}", cause=f"expected a mapping, got {type(raw).__name__}"
        )
    document: dict[str, Any] = {"version": 1}
    for key, value in raw.items():
        if key == "version":
            document[key] = value
        elif value is not None and not (key in _RULE_SECTIONS and isinstance(value, Mapping) and not value):
            document[key] = value
    parse_release_policy(document, origin=origin)
    return document
