"""Non-finite numbers in JSON (`NaN`, `Infinity`, `-Infinity`), named by their JSON path.

Python's `json.dump` writes them by default, but they are not JSON and no contract allows them.
Parsing with `keep_constant` as `parse_constant` keeps each one as a marker instead of a float, so
the reader can say where it is (`metrics.roc_auc.value is NaN, not a finite number`) rather than
only that the text is not JSON.
"""

from __future__ import annotations

from typing import Any

__all__ = ["NonFiniteConstant", "first_instance", "first_non_finite", "json_path", "keep_constant", "non_finite_problem"]


class NonFiniteConstant:
    """Where the text held `NaN`, `Infinity` or `-Infinity`: never a number, never equal to one."""

    __slots__ = ("spelling",)

    def __init__(self, spelling: str) -> None:
        self.spelling = spelling

    def __repr__(self) -> str:
        return self.spelling


def keep_constant(spelling: str) -> NonFiniteConstant:
    """A `json.loads(parse_constant=...)` hook: the constant, kept as a marker."""
    return NonFiniteConstant(spelling)


def json_path(parts: tuple[str | int, ...]) -> str:
    """`metrics.roc_auc.value`, `predictions[0].probability`; `the document` for the top level."""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "the document"


def first_non_finite(document: Any) -> tuple[str, str] | None:
    """`(path, spelling)` of the first marker in document order, iteratively (no recursion), or None."""
    found = first_instance(document, NonFiniteConstant)
    return None if found is None else (found[0], found[1].spelling)


def first_instance(document: Any, kind: type) -> tuple[str, Any] | None:
    """`(path, value)` of the first value of type `kind` in document order (e.g. a parser's marker), or None."""
    stack: list[tuple[tuple[str | int, ...], Any]] = [((), document)]
    while stack:
        parts, value = stack.pop()
        if isinstance(value, kind):
            return json_path(parts), value
        if isinstance(value, dict):
            children: list[tuple[tuple[str | int, ...], Any]] = [((*parts, str(k)), v) for k, v in value.items()]
        elif isinstance(value, list):
            children = [((*parts, i), v) for i, v in enumerate(value)]
        else:
            continue
        stack.extend(reversed(children))
    return None


def non_finite_problem(document: Any) -> str | None:
    """`metrics.roc_auc.value is NaN, not a finite number` for the first marker, or None."""
    found = first_non_finite(document)
    return None if found is None else f"{found[0]} is {found[1]}, not a finite number"
