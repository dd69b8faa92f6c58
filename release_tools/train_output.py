"""Write the ``TrainOutput`` artifact that every later stage reads (docs/architecture.md).

Files at the artifact root: ``evaluation.json``, ``release-policy.json``,
``release.json``, ``golden-requests.jsonl`` (when the repository has one) and
under ``endpoint/`` the endpoint templates with one CloudFormation template
configuration file per template.
"""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

from contracts.release_record import RELEASE_FILE, ReleaseRecord

from .errors import ReleaseToolError

__all__ = ["ENDPOINT_STAGES", "ReleaseRecord", "extract_endpoint_templates", "write_train_output"]

ENDPOINT_STAGES = ("staging", "production")
TEMPLATE_SUFFIX = ".template.json"


def extract_endpoint_templates(templates_zip: bytes, endpoint_dir: Path) -> list[str]:
    """Unzip every ``*.template.json`` (flattened) into ``endpoint_dir``; return the stage names.

    Both the staging and the production template must be there.
    """
    endpoint_dir.mkdir(parents=True, exist_ok=True)
    stages = []
    try:
        with zipfile.ZipFile(io.BytesIO(templates_zip)) as archive:
            for member in archive.namelist():
                name = PurePosixPath(member).name
                if not name.endswith(TEMPLATE_SUFFIX):
                    continue
                body = archive.read(member)
                json.loads(body)  # a template that is not JSON fails here, not in CloudFormation
                (endpoint_dir / name).write_bytes(body)
                stages.append(name[: -len(TEMPLATE_SUFFIX)])
    except (zipfile.BadZipFile, ValueError) as exc:
        raise ReleaseToolError(f"endpoint templates archive is unusable: {exc}") from exc
    missing = [stage for stage in ENDPOINT_STAGES if stage not in stages]
    if missing:
        raise ReleaseToolError(
            f"endpoint templates archive lacks {', '.join(s + TEMPLATE_SUFFIX for s in missing)} (found {sorted(stages)})"
        )
    return sorted(stages)


def _write_json(path: Path, document: Any) -> None:
    path.write_text(json.dumps(document, indent=2, allow_nan=False) + "\n", encoding="utf-8")


def write_train_output(
    out_dir: Path,
    *,
    evaluation: dict[str, Any],
    release_policy_path: Path,
    record: ReleaseRecord,
    golden_requests_path: Path,
    templates_zip: bytes,
    tags: dict[str, str],
) -> list[Path]:
    """Write the artifact files into ``out_dir``; return them (relative paths), sorted."""
    if not release_policy_path.is_file():
        raise ReleaseToolError(f"{release_policy_path}: missing (the Build stage writes it from release-policy.yaml)")
    out_dir.mkdir(parents=True, exist_ok=True)
    _write_json(out_dir / "evaluation.json", evaluation)
    shutil.copyfile(release_policy_path, out_dir / "release-policy.json")
    _write_json(out_dir / RELEASE_FILE, record.to_dict())
    if golden_requests_path.is_file():
        shutil.copyfile(golden_requests_path, out_dir / "golden-requests.jsonl")
    endpoint_dir = out_dir / "endpoint"
    for stage in extract_endpoint_templates(templates_zip, endpoint_dir):
        _write_json(
            endpoint_dir / f"{stage}.config.json",
            {"Parameters": {"ModelPackageArn": record.model_package_arn}, "Tags": dict(tags)},
        )
    return sorted(path.relative_to(out_dir) for path in out_dir.rglob("*") if path.is_file())
