"""The one exception type every release tool raises for an expected failure.

Entry points catch it and print its message as a single line; anything else
is a bug and is still reported as one line (with its type) by :func:`run_cli`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from contracts.aws_errors import describe_exception

__all__ = ["ReleaseToolError", "run_cli"]


class ReleaseToolError(Exception):
    """An expected failure; the message names the cause (file, key, value, job...)."""


def run_cli(tool: str, main: Callable[[], int]) -> int:
    """Run ``main`` and turn any failure into one ``<tool>: <cause>`` line on stderr and exit code 1."""
    try:
        return main()
    except ReleaseToolError as exc:
        print(f"{tool}: {exc}", file=sys.stderr)
    except RecursionError:
        print(f"{tool}: the input is nested too deeply to process", file=sys.stderr)
    except Exception as exc:  # noqa: BLE001 - the contract is one line, never a traceback
        print(f"{tool}: unexpected {describe_exception(exc)}", file=sys.stderr)
    return 1
