"""Chain of custody: what the evaluation gate judged is what the deploy stages use and production runs.

The evaluation gate records a manifest in its decision record: the sha256 of
every file of the `TrainOutput` artifact it judged or the deploy stages will
use (evaluation, policy, release record, endpoint templates and their
configurations) with the artifact object's S3 version, and the model artifact
that `release.json` names (S3 version, ETag, size, sha256). Before each deploy
and in production verification, `compare` finds every difference between that
manifest and what is there now; one difference stops the pipeline.

An S3 object version never changes ("each object version has its own version
ID ... you can't modify an object version", Amazon S3 user guide,
versioning), so the deploy checks compare the model's version ID and ETag
without downloading it again; the artifact's files are small and are hashed
again every time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from contracts.aws_errors import code_or_type

from .artifacts import ArtifactError, ArtifactReader

__all__ = [
    "CUSTODY_FILES",
    "MODE_RECORDED",
    "MODE_REQUIRED",
    "CustodyError",
    "compare",
    "file_custody",
    "manifest",
    "model_custody",
]

MANIFEST_VERSION = 1
# Files the gate judges (evaluation, policy, release) and the deploy stages use (endpoint templates, configurations).
CUSTODY_FILES = (
    "evaluation.json",
    "release-policy.json",
    "release.json",
    "endpoint/staging.template.json",
    "endpoint/staging.config.json",
    "endpoint/production.template.json",
    "endpoint/production.config.json",
)
OPTIONAL_FILES = ("golden-requests.jsonl",)
MODE_REQUIRED = "required"  # every file and a versioned model: what the deploy checks accept
MODE_RECORDED = "recorded"  # what exists, for runs without deploy stages (the local rehearsal)
_CHUNK = 8 * 1024 * 1024


class CustodyError(ValueError):
    """A file or the model cannot be accounted for; the message names it."""


def _sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def file_custody(reader: ArtifactReader, *, required: bool) -> dict[str, Any]:
    """`{"files": {name: sha256}, "artifact_versions": {name: version}}` of the artifact's custody files."""
    files: dict[str, str] = {}
    versions: dict[str, str | None] = {}
    try:
        for name in (*CUSTODY_FILES, *OPTIONAL_FILES):
            found = reader.find(name)
            if found is None:
                if required and name not in OPTIONAL_FILES:
                    raise CustodyError(f"{name} is missing from the input artifact: it cannot be accounted for")
                continue
            files[name] = _sha256(found.content)
            versions[found.artifact.name] = found.version_id
    except ArtifactError as error:
        raise CustodyError(str(error)) from None
    if required and not all(versions.values()):
        raise CustodyError("the input artifact has no S3 version ID (the artifact store must be versioned)")
    return {"files": files, "artifact_versions": versions}


def _split(uri: str) -> tuple[str, str]:
    if not isinstance(uri, str) or not uri.startswith("s3://") or "/" not in uri[5:]:
        raise CustodyError(f"model_data_url {str(uri)[:200]!r} is not an s3://bucket/key URI")
    bucket, key = uri[5:].split("/", 1)
    return bucket, key


def model_custody(s3: Any, model_data_url: str, *, digest: bool) -> dict[str, Any]:
    """The model object's current version (and, with `digest`, the sha256 of that version's bytes)."""
    bucket, key = _split(model_data_url)
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
    except Exception as error:  # noqa: BLE001 - reported as one line
        raise CustodyError(f"model {model_data_url} cannot be read: {code_or_type(error)}") from None
    version = head.get("VersionId")
    if not version or version == "null":
        raise CustodyError(f"model {model_data_url} has no S3 version ID (the release bucket must be versioned)")
    found: dict[str, Any] = {
        "s3_uri": model_data_url,
        "version_id": str(version),
        "etag": str(head.get("ETag", "")),
        "size": int(head.get("ContentLength", -1)),
    }
    if digest:
        hasher = hashlib.sha256()
        try:
            body = s3.get_object(Bucket=bucket, Key=key, VersionId=str(version))["Body"]
            for chunk in iter(lambda: body.read(_CHUNK), b""):
                hasher.update(chunk)
        except Exception as error:  # noqa: BLE001
            raise CustodyError(f"model {model_data_url} version {version} cannot be read: {code_or_type(error)}") from None
        found["sha256"] = hasher.hexdigest()
    return found


def manifest(reader: ArtifactReader, s3: Any, *, model_data_url: str | None, required: bool) -> dict[str, Any]:
    """The evaluation gate's custody manifest (raises CustodyError when `required` and anything is missing)."""
    record: dict[str, Any] = {
        "version": MANIFEST_VERSION,
        "mode": MODE_REQUIRED if required else MODE_RECORDED,
        **file_custody(reader, required=required),
    }
    if model_data_url:
        try:
            record["model"] = model_custody(s3, model_data_url, digest=True)
        except CustodyError:
            if required:
                raise
    elif required:
        raise CustodyError("release.json names no model_data_url: the model cannot be accounted for")
    return record


def compare(
    recorded: Any, current_files: Mapping[str, Any], current_model: Mapping[str, Any] | None, *, complete: bool = True
) -> list[str]:
    """Every difference between the gate's manifest and what the deploy would use now (empty: unchanged).

    `complete` (before each deploy) also requires a manifest in mode `required`; without it (production
    verification, which runs after that check) what the gate recorded must be unchanged.
    """
    if not isinstance(recorded, Mapping) or recorded.get("version") != MANIFEST_VERSION:
        return ["the evaluation gate's decision record holds no chain-of-custody manifest (version 1)"]
    if complete and recorded.get("mode") != MODE_REQUIRED:
        return [f"the evaluation gate recorded custody in mode {recorded.get('mode')!r}, not {MODE_REQUIRED!r}"]
    problems = []
    judged, now = dict(recorded.get("files") or {}), dict(current_files.get("files") or {})
    for name in sorted(set(judged) | set(now)):
        if judged.get(name) != now.get(name):
            problems.append(f"{name}: sha256 {str(now.get(name))[:12]} now, {str(judged.get(name))[:12]} when judged")
    model = recorded.get("model") or {}
    if not model and not complete:
        return problems
    for field in ("s3_uri", "version_id", "etag", "size"):
        if current_model is None or model.get(field) != current_model.get(field):
            now_value = None if current_model is None else current_model.get(field)
            problems.append(f"model {field}: {now_value!r} now, {model.get(field)!r} when judged")
    return problems
