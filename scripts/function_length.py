"""Function-length bound for the platform code: no function longer than 60 lines.

`ruff` bounds complexity (C901, `ruff.toml`) but has no rule for length, so this
check walks the syntax trees itself. A function's length counts every line from
its `def` (decorators excluded) to its last line, docstring and comments
included: what a reader has to hold in mind at once.

    python -m scripts.function_length            # exit 1 and one line per function over the bound
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

__all__ = ["MAX_LINES", "PLATFORM_CODE", "long_functions", "main"]

MAX_LINES = 60
PLATFORM_CODE = ("app.py", "stacks", "lambdas", "release_tools", "rehearsal", "scripts")
ROOT = Path(__file__).resolve().parents[1]


def _python_files(root: Path, paths: Sequence[str]) -> Iterator[Path]:
    """Each file once, where it really is (`lambdas/contracts` links to `contracts/`)."""
    seen: set[Path] = set()
    for name in paths:
        path = root / name
        candidates = [path] if path.is_file() else sorted(p for p in path.rglob("*.py") if "__pycache__" not in p.parts)
        for candidate in candidates:
            real = candidate.resolve()
            if real not in seen and real.is_relative_to(root.resolve()):
                seen.add(real)
                yield root / real.relative_to(root.resolve())


def long_functions(root: Path = ROOT, paths: Sequence[str] = PLATFORM_CODE, limit: int = MAX_LINES) -> list[str]:
    """`path:line name (N lines)` for every function in `paths` longer than `limit` lines."""
    found = []
    for path in _python_files(root, paths):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > limit:
                    found.append(f"{path.relative_to(root)}:{node.lineno} {node.name} ({length} lines > {limit})")
    return found


def main(argv: Sequence[str] | None = None) -> int:
    paths = list(argv if argv is not None else sys.argv[1:]) or list(PLATFORM_CODE)
    found = long_functions(paths=paths)
    for line in found:
        print(f"function too long: {line}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
