"""Test helpers for the pipeline functions: fake function credentials and zipped
artifacts in (moto) S3. The CodePipeline doubles (job events, the Lambda
context, the recorder of job answers) are `rehearsal.codepipeline_double`'s,
shared with the rehearsal.

Import what you need: `from function_kit_fixtures import aws_credentials, ...`
(pytest puts `tests/` on `sys.path`). Owned by the gate-kit engineer; not a
conftest, so nothing here applies unless imported.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Mapping
from typing import Any

import pytest

__all__ = [
    "FUNCTION_ACCESS_KEY",
    "REGION",
    "aws_credentials",
    "put_zip_artifact",
    "set_fake_aws_environment",
    "zip_bytes",
]

REGION = "eu-west-1"
FUNCTION_ACCESS_KEY = "AKIAFUNCTIONROLE0000"


def set_fake_aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake function credentials and region, whatever the shell has set (usable at any scope
    with `pytest.MonkeyPatch.context()`)."""
    for name in (
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "RECORD_BUCKET",
        "RECORD_PREFIX",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", FUNCTION_ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "function-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake function credentials and region for one test."""
    set_fake_aws_environment(monkeypatch)


def zip_bytes(files: Mapping[str, str | bytes]) -> bytes:
    """A zip archive holding `files` (name -> text or bytes), as CodePipeline stores artifacts."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content.encode("utf-8") if isinstance(content, str) else content)
    return buffer.getvalue()


def put_zip_artifact(s3: Any, bucket: str, key: str, files: Mapping[str, Any]) -> None:
    """Upload a zipped artifact; dict/list values are written as JSON."""
    encoded = {name: json.dumps(value) if isinstance(value, (dict, list)) else value for name, value in files.items()}
    s3.put_object(Bucket=bucket, Key=key, Body=zip_bytes(encoded))
