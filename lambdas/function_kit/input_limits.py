"""The one place that bounds what the pipeline's functions read (pure, standard library).

Every function runs with the memory size set in one place
(`stacks/components/gate_function.py`, `GateFunctionProps.memory_size`). An
input is checked against these bounds *before* it is read into memory where
its size is known beforehand (S3 `ContentLength`, zip entry sizes), and while
it is read otherwise, so that every input within the bounds fits that memory
with margin (`bench/bench_function_memory.py` measures it) and every input
beyond them fails closed with one line naming the file and the bound.
`parse_bounded_json` parses JSON with bounded nesting and number length, and
turns Python's own limits (RecursionError, the int-to-str digit limit) into
that one line too.
"""

from __future__ import annotations

import json
import math
from typing import Any

from contracts.finite_json import first_instance, keep_constant, non_finite_problem

__all__ = [
    "MAX_ARTIFACT_BYTES",
    "MAX_ARTIFACT_ENTRIES",
    "MAX_ENDPOINT_RESPONSE_BYTES",
    "MAX_FILE_BYTES",
    "MAX_JSON_DEPTH",
    "MAX_JSON_NUMBER_CHARS",
    "MAX_JSON_VALUES",
    "MAX_RECORD_BYTES",
    "BoundedJsonError",
    "InvalidJsonError",
    "beyond_bound",
    "describe_bytes",
    "json_refusal",
    "parse_bounded_json",
    "read_at_most",
]

MAX_ARTIFACT_BYTES = 64 * 1024 * 1024
"""An input artifact (zip) is streamed to the function's /tmp (512 MB by default), never held in memory.
`TrainOutput` holds small JSON files and two endpoint templates: kilobytes."""

MAX_ARTIFACT_ENTRIES = 10_000
"""Entries in one artifact's zip directory (each costs a `ZipInfo` in memory)."""

MAX_FILE_BYTES = 2 * 1024 * 1024
"""A file a function reads from an artifact (decompressed). `evaluation.json` with 400 metrics is about 100 KB."""

MAX_JSON_DEPTH = 32
"""Nesting of objects and arrays in any JSON file a function reads; the contracts need 5."""

MAX_JSON_NUMBER_CHARS = 40
"""Characters in one JSON number (a float has at most 17 significant digits; no metric needs 40)."""

MAX_JSON_VALUES = 200_000
"""Arrays, objects and commas in one JSON text (an upper bound on its values, counted before parsing):
`[[],[],...]` turns 3 bytes into a 64-byte list, so size alone does not bound memory."""

MAX_ENDPOINT_RESPONSE_BYTES = 1024 * 1024
"""One staging endpoint response body (a golden request's predictions); SageMaker allows 6 MB.
Applies to the warm-up's answers too, although it does not parse them."""

MAX_RECORD_BYTES = 8 * 1024 * 1024
"""The evaluation gate's JSON decision record, read back by promote's custody check. The gate builds it from
files within the bounds above: on a 2 MiB `evaluation.json` and `release-policy.json` of about 3,000 metrics
(the benchmark's largest) it is 2.9 MB (`tests/test_bad_inputs_functions.py` keeps it within this bound)."""


class BoundedJsonError(ValueError):
    """JSON beyond the bounds; the message is the problem, without the file's name."""


class InvalidJsonError(BoundedJsonError):
    """Not JSON at all (syntax, NaN, Infinity); the message is the problem, with line and column."""


def describe_bytes(size: int) -> str:
    """`2 MiB`, `64 MiB`, `1536 bytes`: a bound as people read it."""
    mib = 1024 * 1024
    if size >= mib and size % mib == 0:
        return f"{size // mib} MiB"
    return f"{size} bytes"


class _LongNumber:
    """Where the text held a number longer than `MAX_JSON_NUMBER_CHARS`: kept as a marker (never converted)
    so that the error can name its path, e.g. `dataset.rows: a number of 400 characters ...`."""

    __slots__ = ("problem",)

    def __init__(self, text: str) -> None:
        self.problem = f"a number of {len(text)} characters ({text[:20]}...) is longer than the {MAX_JSON_NUMBER_CHARS} allowed"


def beyond_bound(where: str, bound: int, size: int | None = None) -> str:
    """The one line for an input past a size bound: `WHERE is N bytes, more than the 2 MiB a function reads`."""
    if size is None:
        return f"{where} is more than the {describe_bytes(bound)} a function reads"
    return f"{where} is {size} bytes, more than the {describe_bytes(bound)} a function reads"


def json_refusal(where: str, error: BoundedJsonError) -> str:
    """The one line for JSON `parse_bounded_json` refused: `WHERE is not valid JSON: ...` or `WHERE is refused: ...`."""
    return f"{where} {'is not valid JSON' if isinstance(error, InvalidJsonError) else 'is refused'}: {error}"


def read_at_most(body: Any, bound: int) -> bytes | None:
    """At most `bound` bytes of a streamed body (`read(bound + 1)`: never the whole of a larger one).

    `None`, with the body closed and the rest never read, when it holds more than `bound` bytes.
    """
    content = body.read(bound + 1)
    if len(content) > bound:
        close = getattr(body, "close", None)
        if callable(close):
            close()
        return None
    return bytes(content)


def _bounded_number(text: str, convert: Any) -> Any:
    if len(text) > MAX_JSON_NUMBER_CHARS:
        return _LongNumber(text)
    return convert(text)


def _parse_float(text: str) -> Any:
    value = _bounded_number(text, float)
    if isinstance(value, _LongNumber):
        return value
    if not math.isfinite(value):
        raise BoundedJsonError(f"{text} is beyond the range of a double-precision number")
    return value


def _depth_problem(value: Any) -> str | None:
    """Iterative (no recursion): the first nesting beyond MAX_JSON_DEPTH, if any."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > MAX_JSON_DEPTH:
            return f"objects and arrays are nested more than {MAX_JSON_DEPTH} levels deep"
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return None


def parse_bounded_json(text: str) -> Any:
    """`json.loads` within the bounds, or `BoundedJsonError` saying what is wrong (with line and column)."""
    values = text.count(",") + text.count("[") + text.count("{")
    if values > MAX_JSON_VALUES:
        raise BoundedJsonError(f"more than the {MAX_JSON_VALUES} values (counting commas, arrays and objects) allowed")
    try:
        value = json.loads(
            text,
            parse_constant=keep_constant,
            parse_int=lambda digits: _bounded_number(digits, int),
            parse_float=_parse_float,
        )
    except json.JSONDecodeError as error:
        raise InvalidJsonError(f"{error.msg} at line {error.lineno}, column {error.colno}") from None
    except RecursionError:
        raise BoundedJsonError(f"objects and arrays are nested more than {MAX_JSON_DEPTH} levels deep") from None
    except BoundedJsonError:
        raise
    except ValueError as error:  # e.g. Python's int-to-str digit limit, should a hook let one through
        raise BoundedJsonError(str(error).splitlines()[0] if str(error) else type(error).__name__) from None
    problem = _depth_problem(value)
    if problem:
        raise BoundedJsonError(problem)
    long_number = first_instance(value, _LongNumber)
    if long_number is not None:
        raise BoundedJsonError(f"{long_number[0]}: {long_number[1].problem}")
    non_finite = non_finite_problem(value)  # NaN, Infinity: not JSON, named by their path (contracts.finite_json)
    if non_finite:
        raise InvalidJsonError(non_finite)
    return value
