"""Seed an empty repository on GitHub, GitLab or Bitbucket with the sample model project.

CloudFormation cannot create a repository on an external host (with a CodeCommit
source the stack seeds the repository itself). `make seed-repo REMOTE=<git url>`
pushes `model_repo/` (the same files the CodeCommit seed holds) as the first
commit of the release branch, and refuses a remote that already has any
branch or tag: seeding never overwrites history.

Usage: python -m scripts.seed_repository REMOTE [--branch main] [--cdk-json cdk.json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from stacks.config import ConfigError, load_config
from stacks.seed_content import MODEL_REPO_DIR, seed_files

__all__ = ["SeedError", "main", "seed"]


class SeedError(RuntimeError):
    """Seeding cannot go on, with a one-line reason."""


def _git(*args: str, cwd: Path | None = None) -> str:
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=300, check=False)
    if result.returncode != 0:
        detail = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise SeedError(f"git {args[0]} failed: {detail}")
    return result.stdout


def seed(remote: str, *, branch: str, source: Path = MODEL_REPO_DIR) -> int:
    """Push the seed files as the first commit of `branch` on the empty `remote`; return the file count."""
    refs = _git("ls-remote", remote).strip()
    if refs:
        raise SeedError(
            f"{remote} is not empty ({len(refs.splitlines())} refs): seeding only pushes into an empty "
            "repository; clone it and copy model_repo/ in by hand instead"
        )
    files = seed_files(source)
    with tempfile.TemporaryDirectory(prefix="ml-cicd-seed-") as work:
        root = Path(work)
        for relative in files:
            (root / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / relative, root / relative)
        _git("init", "--quiet", "--initial-branch", branch, cwd=root)
        _git("add", "--all", cwd=root)
        _git(
            "-c",
            "user.name=ml-cicd",
            "-c",
            "user.email=ml-cicd@users.noreply.invalid",
            "commit",
            "--quiet",
            "-m",
            "Seed the model project from ml-cicd's sample (model_repo/)",
            cwd=root,
        )
        _git("push", "--quiet", remote, f"HEAD:refs/heads/{branch}", cwd=root)
    return len(files)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.seed_repository", description=__doc__.splitlines()[0])
    parser.add_argument("remote", help="the empty repository's git URL")
    parser.add_argument("--branch", help="the release branch (default: release_branch from cdk.json)")
    parser.add_argument("--cdk-json", type=Path, default=Path("cdk.json"))
    args = parser.parse_args(argv)
    try:
        branch = args.branch
        if branch is None:
            context = json.loads(args.cdk_json.read_text(encoding="utf-8")).get("context", {})
            branch = load_config(context).release_branch
        count = seed(args.remote, branch=branch)
    except (SeedError, ConfigError, OSError, json.JSONDecodeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"seeded {args.remote}: {count} files on {branch} (one commit)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
