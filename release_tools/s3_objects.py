"""Small S3 helpers: parse ``s3://`` URIs, upload with the project's KMS key, download."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from .errors import ReleaseToolError

__all__ = ["download_bytes", "download_file", "split_s3_uri", "upload_bytes", "upload_file"]


def split_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` -> ``(bucket, key)``; refuses anything else."""
    if not uri.startswith("s3://") or "/" not in uri[5:] or uri[5:].startswith("/"):
        raise ReleaseToolError(f"{uri!r} is not an s3://bucket/key URI")
    bucket, key = uri[5:].split("/", 1)
    if not key:
        raise ReleaseToolError(f"{uri!r} names no object key")
    return bucket, key


def upload_bytes(s3: Any, uri: str, body: bytes, kms_key_arn: str) -> str:
    """Write an object encrypted with the project's KMS key; return its URI."""
    bucket, key = split_s3_uri(uri)
    try:
        s3.put_object(Bucket=bucket, Key=key, Body=body, ServerSideEncryption="aws:kms", SSEKMSKeyId=kms_key_arn)
    except (ClientError, BotoCoreError) as exc:
        raise ReleaseToolError(f"cannot write {uri}: {exc}") from exc
    return uri


def upload_file(s3: Any, uri: str, path: Path, kms_key_arn: str) -> str:
    """Upload a local file (small: read into memory) with the project's KMS key."""
    return upload_bytes(s3, uri, path.read_bytes(), kms_key_arn)


def download_bytes(s3: Any, uri: str) -> bytes:
    """Read an object's bytes; a missing object is one clear line."""
    bucket, key = split_s3_uri(uri)
    try:
        return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except (ClientError, BotoCoreError) as exc:
        raise ReleaseToolError(f"cannot read {uri}: {exc}") from exc


def download_file(s3: Any, uri: str, path: Path) -> Path:
    """Download an object to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(download_bytes(s3, uri))
    return path
