"""Package the model project's code: ``sourcedir.tar.gz`` for training and ``model.tar.gz`` for serving.

``model.tar.gz`` is what the SageMaker scikit-learn container receives at
``/opt/ml/model``: ``model.joblib`` at the root, the serving code under
``code/`` (``code/inference.py``, ``code/requirements.txt``), so the
container serves it with ``SAGEMAKER_PROGRAM=inference.py`` and
``SAGEMAKER_SUBMIT_DIRECTORY=/opt/ml/model/code`` and needs no network.
Archives are reproducible: sorted entries, zero mtimes and owners.

Usage::

    python -m release_tools.model_package source --project-dir model_repo --out sourcedir.tar.gz
    python -m release_tools.model_package model --model-dir model --code-dir model_repo --out model.tar.gz
"""

from __future__ import annotations

import argparse
import gzip
import io
import sys
import tarfile
from pathlib import Path

from .errors import ReleaseToolError, run_cli

__all__ = [
    "REQUIRED_SOURCE_FILES",
    "SERVING_ENVIRONMENT",
    "build_model_tarball",
    "build_source_tarball",
    "source_files",
]

REQUIRED_SOURCE_FILES = ("train.py", "evaluate.py", "inference.py", "requirements.txt")
SERVING_ENVIRONMENT = {
    "SAGEMAKER_PROGRAM": "inference.py",
    "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
}
MODEL_FILE = "model.joblib"


def source_files(project_dir: Path) -> list[Path]:
    """The project's code: every top-level ``*.py`` plus ``requirements.txt``; the required ones must exist."""
    missing = [name for name in REQUIRED_SOURCE_FILES if not (project_dir / name).is_file()]
    if missing:
        raise ReleaseToolError(f"{project_dir}: missing {', '.join(missing)}")
    return sorted([*project_dir.glob("*.py"), project_dir / "requirements.txt"])


def _add_file(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    archive.addfile(info, io.BytesIO(data))


def _write_tarball(out_path: Path, entries: dict[str, bytes]) -> Path:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name in sorted(entries):
            _add_file(archive, name, entries[name])
    out_path.parent.mkdir(parents=True, exist_ok=True)
    # mtime=0 in the gzip header too, so identical inputs give identical bytes.
    out_path.write_bytes(gzip.compress(buffer.getvalue(), mtime=0))
    return out_path


def build_source_tarball(project_dir: Path, out_path: Path) -> Path:
    """``sourcedir.tar.gz`` for script mode: the project's code at the archive root."""
    entries = {path.name: path.read_bytes() for path in source_files(project_dir)}
    return _write_tarball(out_path, entries)


def build_model_tarball(model_dir: Path, code_dir: Path, out_path: Path) -> Path:
    """``model.tar.gz`` for serving: every file of ``model_dir`` at the root, the code under ``code/``."""
    if not (model_dir / MODEL_FILE).is_file():
        raise ReleaseToolError(f"{model_dir}: no {MODEL_FILE} (run train.py first)")
    entries = {
        path.relative_to(model_dir).as_posix(): path.read_bytes()
        for path in model_dir.rglob("*")
        if path.is_file() and path.relative_to(model_dir).parts[0] != "code"
    }
    for path in source_files(code_dir):
        entries[f"code/{path.name}"] = path.read_bytes()
    return _write_tarball(out_path, entries)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="release_tools.model_package", description="Package the model project.")
    commands = parser.add_subparsers(dest="command", required=True)
    source = commands.add_parser("source", help="sourcedir.tar.gz for training")
    source.add_argument("--project-dir", type=Path, required=True)
    source.add_argument("--out", type=Path, required=True)
    model = commands.add_parser("model", help="model.tar.gz for serving")
    model.add_argument("--model-dir", type=Path, required=True)
    model.add_argument("--code-dir", type=Path, required=True)
    model.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.command == "source":
        out = build_source_tarball(args.project_dir, args.out)
    else:
        out = build_model_tarball(args.model_dir, args.code_dir, args.out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli("model_package", main))
