"""No document links outside the repository, and every relative link points at a file the repository has."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINK = re.compile(r"\]\(([^)\s]+)\)")
OUTSIDE = re.compile(r"\.\./shared/|/work/shared")


def _documents() -> list[Path]:
    tracked = subprocess.run(["git", "ls-files", "*.md"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [ROOT / name for name in tracked.split()]


def link_problems(document: Path, text: str) -> list[str]:
    """`file: target` for every link in `text` (of `document`) that leaves the repository or names a missing file."""
    name = document.relative_to(ROOT).as_posix()
    found = [f"{name}: mentions {match.group(0)}" for match in OUTSIDE.finditer(text)]
    for target in LINK.findall(text):
        if re.match(r"^[a-z]+:", target) or target.startswith("#"):
            continue
        resolved = (document.parent / target.split("#", 1)[0]).resolve()
        if not resolved.is_relative_to(ROOT) or not resolved.exists():
            found.append(f"{name}: {target}")
    return found


def test_every_document_links_inside_the_repository() -> None:
    documents = _documents()
    assert len(documents) > 5
    assert [problem for document in documents for problem in link_problems(document, document.read_text())] == []


def test_the_check_can_fail() -> None:
    page = ROOT / "docs" / "architecture.md"
    text = "[notes](../../shared/contracts.md), [gone](missing.md), [ok](contracts.md#limits), `../shared/style.md`"
    assert link_problems(page, text) == [
        "docs/architecture.md: mentions ../shared/",
        "docs/architecture.md: mentions ../shared/",
        "docs/architecture.md: ../../shared/contracts.md",
        "docs/architecture.md: missing.md",
    ]
