"""Model-package metadata (`CustomerMetadataProperties`) that SageMaker accepts. Standard library only.

SageMaker's service model constrains every key and value of a model package's
customer metadata (`CreateModelPackage`, `UpdateModelPackage`):

- key: 1-128 characters, value: 1-256 characters, both matching
  `^([\\p{L}\\p{Z}\\p{N}_.:\\/=+\\-@]*)$`: Unicode letters, separators (the
  space among them), numbers, and `_ . : / = + - @`. No parentheses, commas,
  `#`, quotes, tabs or newlines;
- at most 50 entries.

A request that breaks one is refused with a `ValidationException`. Every
metadata entry the project writes (the gates, promotion, registration,
rollback) goes through `customer_metadata`, so none can be refused.
One module in `contracts/`, shipped with the functions and with the release
tools (the rollback tool among them).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping

__all__ = [
    "MAX_ENTRIES",
    "MAX_KEY_CHARS",
    "MAX_VALUE_CHARS",
    "MetadataError",
    "customer_metadata",
    "metadata_key",
    "metadata_keys",
    "metadata_value",
]

MAX_ENTRIES = 50
MAX_KEY_CHARS = 128
MAX_VALUE_CHARS = 256
_PUNCTUATION = frozenset("_.:/=+-@")
_ALLOWED_CATEGORIES = ("L", "Z", "N")  # \p{L}, \p{Z}, \p{N}
_TRUNCATED = "..."


class MetadataError(ValueError):
    """The metadata cannot be written as given (too many entries, or a key that sanitises to nothing)."""


def _allowed(character: str) -> bool:
    return character in _PUNCTUATION or unicodedata.category(character).startswith(_ALLOWED_CATEGORIES)


def _collapsed(text: str) -> str:
    """Each refused character becomes a space; runs of spaces collapse; no space at either end."""
    replaced = "".join(c if _allowed(c) else " " for c in text)
    return " ".join(part for part in replaced.split(" ") if part)


def metadata_value(text: object) -> str:
    """`text` as a value SageMaker accepts: refused characters become spaces, at most 256 characters.

    `CodePipeline execution 1f2e (job 9a8b)` becomes `CodePipeline execution 1f2e job 9a8b`.
    A longer value is cut to 253 characters and `...`. May be empty (the caller drops the entry).
    """
    value = _collapsed(str(text))
    if len(value) > MAX_VALUE_CHARS:
        value = value[: MAX_VALUE_CHARS - len(_TRUNCATED)].rstrip() + _TRUNCATED
    return value


def metadata_key(name: str) -> str:
    """`name` as a key SageMaker accepts; raises `MetadataError` when nothing usable is left or it is too long.

    Keys are the project's own names: a key is never cut (two cut keys could collide).
    """
    key = _collapsed(name)
    if not key or len(key) > MAX_KEY_CHARS:
        raise MetadataError(f"model package metadata key {name[:140]!r} is not 1-{MAX_KEY_CHARS} usable characters")
    return key


def metadata_keys(names: Iterable[str]) -> list[str]:
    """Keys for `CustomerMetadataPropertiesToRemove`."""
    return [metadata_key(name) for name in names]


def customer_metadata(entries: Mapping[str, object]) -> dict[str, str]:
    """`CustomerMetadataProperties` SageMaker accepts: keys and values sanitised, empty values dropped.

    Raises `MetadataError` (one line) for more than 50 entries: nothing is dropped silently.
    """
    result: dict[str, str] = {}
    for name, raw in entries.items():
        value = metadata_value("" if raw is None else raw)
        if value:
            result[metadata_key(name)] = value
    if len(result) > MAX_ENTRIES:
        raise MetadataError(f"model package metadata has {len(result)} entries; SageMaker allows {MAX_ENTRIES}")
    return result
