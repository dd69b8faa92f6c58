"""Write ``build-info.json``: which commit the Build stage built, for the Train stage.

The Train stage's input is the Build stage's artifact, not the repository, so
the commit id travels inside the artifact. The revision comes from
``SOURCE_REVISION`` (set by the pipeline to ``#{Source.CommitId}``), else
CodeBuild's ``CODEBUILD_RESOLVED_SOURCE_VERSION``, else ``--source-revision``.

Usage: ``python -m release_tools.build_info --out build-info.json``
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from .errors import ReleaseToolError, run_cli

__all__ = ["SOURCE_REVISION_VARIABLES", "build_info", "main"]

SOURCE_REVISION_VARIABLES = ("SOURCE_REVISION", "CODEBUILD_RESOLVED_SOURCE_VERSION")


def build_info(env: Mapping[str, str], explicit_revision: str | None = None) -> dict[str, str]:
    """The record; refuses to write one without a source revision."""
    revision = explicit_revision or next((env[name] for name in SOURCE_REVISION_VARIABLES if env.get(name)), "")
    if not revision.strip():
        raise ReleaseToolError(f"no source revision: set one of {', '.join(SOURCE_REVISION_VARIABLES)} or pass --source-revision")
    return {"source_revision": revision.strip(), "build_id": env.get("CODEBUILD_BUILD_ID", "local")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="release_tools.build_info", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("build-info.json"))
    parser.add_argument("--source-revision", default=None)
    args = parser.parse_args(argv)
    info = build_info(os.environ, args.source_revision)
    args.out.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}: source revision {info['source_revision']}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli("build_info", main))
