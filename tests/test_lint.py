"""`make test` holds the code to what `make check` holds it to: ruff lint (imports sorted, complexity bounded),
`ruff format`, and the 60-line function bound on the platform code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from scripts.function_length import long_functions

ROOT = Path(__file__).resolve().parents[1]
RUFF = Path(sys.executable).with_name("ruff")


def test_ruff_lint_passes_with_imports_sorted_and_complexity_bounded() -> None:
    result = subprocess.run([str(RUFF), "check", "--quiet", "."], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_code_is_formatted_by_ruff_format() -> None:
    result = subprocess.run([str(RUFF), "format", "--check", "."], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_platform_function_is_longer_than_60_lines() -> None:
    assert long_functions() == []


def test_the_length_bound_can_fail(tmp_path: Path) -> None:
    (tmp_path / "long.py").write_text("def f():\n" + "    x = 1\n" * 60)
    (tmp_path / "short.py").write_text("def g():\n" + "    x = 1\n" * 59)
    assert long_functions(tmp_path, ["long.py", "short.py"]) == ["long.py:1 f (61 lines > 60)"]
