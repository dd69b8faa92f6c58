"""What the model repository is seeded with: `model_repo/` less local by-products (standard library only).

The CodeCommit seed (an S3 asset, `stacks/components/model_repository.py`) and
`make seed-repo` for external hosts (`scripts/seed_repository.py`) use these
same exclusions, so both seeds hold the same files.
"""

from __future__ import annotations

from fnmatch import fnmatch
from pathlib import Path

__all__ = ["MODEL_REPO_DIR", "SEED_EXCLUDES", "seed_files"]

MODEL_REPO_DIR = Path(__file__).resolve().parents[1] / "model_repo"
# CDK asset glob excludes: local by-products that must never reach the seeded repository.
SEED_EXCLUDES = (
    "**/__pycache__",
    "**/*.pyc",
    ".pytest_cache",
    "**/.pytest_cache",
    ".ruff_cache",
    "**/.DS_Store",
    "**/*.egg-info",
    "build",
    "dist",
    ".venv",
)


def _excluded(relative: str) -> bool:
    parts = relative.split("/")
    for pattern in SEED_EXCLUDES:
        anywhere = pattern.startswith("**/")
        name = pattern.removeprefix("**/")
        candidates = [("/".join(parts[: i + 1]), part) for i, part in enumerate(parts)]
        if anywhere and any(fnmatch(part, name) for _, part in candidates):
            return True
        if not anywhere and any(fnmatch(prefix, name) for prefix, _ in candidates):
            return True
    return False


def seed_files(root: Path = MODEL_REPO_DIR) -> list[str]:
    """The seed's files, relative to `root`, sorted."""
    return sorted(
        relative for path in root.rglob("*") if path.is_file() and not _excluded(relative := path.relative_to(root).as_posix())
    )
