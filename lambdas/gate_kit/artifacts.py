"""Read files from the root of a CodePipeline input artifact (a zip in S3).

The artifact is fetched with the job's own `artifactCredentials`, as
CodePipeline documents: the function's role need not be able to read the
artifact bucket. S3 decrypts SSE-KMS objects itself (SigV4 is required, and is
forced here). Every failure raises `ArtifactError` with one line naming the
artifact, its S3 location and the file.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .codepipeline_job import ArtifactCredentials, InputArtifact

if (
    TYPE_CHECKING
):  # zipfile is imported on first use: it is slow to import at cold start
    import zipfile

__all__ = [
    "MAX_ARTIFACT_BYTES",
    "MAX_FILE_BYTES",
    "ArtifactError",
    "ArtifactFile",
    "ArtifactReader",
    "artifact_s3_client",
]

MAX_ARTIFACT_BYTES = 256 * 1024 * 1024
"""Refuse to download larger artifacts: gates read small JSON files, not models."""

MAX_FILE_BYTES = 32 * 1024 * 1024
"""Refuse to decompress larger files (a guard against zip bombs)."""


class ArtifactError(ValueError):
    """An input artifact, or a file in it, is missing or unreadable."""


@dataclass(frozen=True)
class ArtifactFile:
    """A file found at the root of an input artifact."""

    artifact: InputArtifact
    name: str
    content: bytes
    kms_key_id: str | None = None

    @property
    def where(self) -> str:
        """Human-readable location: `evaluation.json in artifact TrainOutput (s3://...)`."""
        return f"{self.name} in artifact {self.artifact.name} ({self.artifact.location.uri})"

    def text(self) -> str:
        """The content decoded as UTF-8 (a BOM is tolerated)."""
        try:
            return self.content.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise ArtifactError(
                f"{self.where} is not UTF-8 text (byte {error.start})"
            ) from None

    def json(self) -> Any:
        """The content parsed as JSON; NaN and Infinity are refused, as JSON refuses them."""
        try:
            return json.loads(self.text(), parse_constant=_refuse_constant)
        except json.JSONDecodeError as error:
            raise ArtifactError(
                f"{self.where} is not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}"
            ) from None
        except _NonStandardConstant as error:
            raise ArtifactError(
                f"{self.where} is not valid JSON: {error} is not a JSON number"
            ) from None


class _NonStandardConstant(ValueError):
    pass


def _refuse_constant(name: str) -> Any:
    raise _NonStandardConstant(name)


def artifact_s3_client(credentials: ArtifactCredentials | None) -> Any:
    """An S3 client signed with the job's artifact credentials (SigV4, for SSE-KMS objects)."""
    if credentials is None:
        raise ArtifactError(
            "the job carries no artifactCredentials: cannot read input artifacts"
        )
    import boto3  # imported lazily: keeps the handler's cold import fast
    from botocore.config import Config

    return boto3.client(
        "s3",
        aws_access_key_id=credentials.access_key_id,
        aws_secret_access_key=credentials.secret_access_key,
        aws_session_token=credentials.session_token,
        config=Config(
            signature_version="s3v4", retries={"max_attempts": 3, "mode": "standard"}
        ),
    )


def _error_code(error: Exception) -> str:
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        if code:
            return str(code)
    return type(error).__name__


@dataclass
class _OpenedArtifact:
    archive: zipfile.ZipFile
    kms_key_id: str | None


class ArtifactReader:
    """Finds files at the root of a job's input artifacts; downloads each artifact once."""

    def __init__(self, s3_client: Any, artifacts: Sequence[InputArtifact]) -> None:
        self._s3 = s3_client
        self._artifacts = tuple(artifacts)
        self._opened: dict[int, _OpenedArtifact] = {}

    @property
    def artifacts(self) -> tuple[InputArtifact, ...]:
        """The artifacts searched, in the job's order."""
        return self._artifacts

    def _open(self, index: int) -> _OpenedArtifact:
        if index in self._opened:
            return self._opened[index]
        artifact = self._artifacts[index]
        where = f"artifact {artifact.name} ({artifact.location.uri})"
        try:
            response = self._s3.get_object(
                Bucket=artifact.location.bucket, Key=artifact.location.key
            )
        except Exception as error:  # noqa: BLE001 - any S3/credential failure is an unreadable artifact
            raise ArtifactError(
                f"{where} could not be read: {_error_code(error)}"
            ) from None
        size = response.get("ContentLength")
        if isinstance(size, int) and size > MAX_ARTIFACT_BYTES:
            raise ArtifactError(
                f"{where} is {size} bytes, more than the {MAX_ARTIFACT_BYTES} a gate reads"
            )
        try:
            body = response["Body"].read(MAX_ARTIFACT_BYTES + 1)
        except Exception as error:  # noqa: BLE001
            raise ArtifactError(
                f"{where} could not be downloaded: {_error_code(error)}"
            ) from None
        if len(body) > MAX_ARTIFACT_BYTES:
            raise ArtifactError(
                f"{where} is more than the {MAX_ARTIFACT_BYTES} bytes a gate reads"
            )
        import io
        import zipfile

        try:
            archive = zipfile.ZipFile(io.BytesIO(body))
        except zipfile.BadZipFile:
            raise ArtifactError(f"{where} is not a zip file") from None
        kms_key_id = (
            response.get("SSEKMSKeyId")
            if response.get("ServerSideEncryption") == "aws:kms"
            else None
        )
        opened = _OpenedArtifact(archive=archive, kms_key_id=kms_key_id)
        self._opened[index] = opened
        return opened

    def _read_member(self, index: int, name: str) -> ArtifactFile | None:
        opened = self._open(index)
        artifact = self._artifacts[index]
        info = _root_member(opened.archive, name)
        if info is None:
            return None
        import zipfile

        where = f"{name} in artifact {artifact.name} ({artifact.location.uri})"
        if info.file_size > MAX_FILE_BYTES:
            raise ArtifactError(
                f"{where} is {info.file_size} bytes, more than the {MAX_FILE_BYTES} a gate reads"
            )
        try:
            with opened.archive.open(info) as member:
                content = member.read(MAX_FILE_BYTES + 1)
        except (
            zipfile.BadZipFile,
            OSError,
            RuntimeError,
            NotImplementedError,
        ) as error:
            raise ArtifactError(f"{where} could not be extracted: {error}") from None
        if len(content) > MAX_FILE_BYTES:
            raise ArtifactError(
                f"{where} is more than the {MAX_FILE_BYTES} bytes a gate reads"
            )
        return ArtifactFile(
            artifact=artifact, name=name, content=content, kms_key_id=opened.kms_key_id
        )

    def find(self, name: str) -> ArtifactFile | None:
        """The file `name` at the root of exactly one input artifact; `None` if in none.

        Raises `ArtifactError` if an artifact cannot be read (its contents are
        unknown, so the file's uniqueness cannot be checked) or if the file is
        in more than one artifact (which one is meant is ambiguous).
        """
        if not self._artifacts:
            raise ArtifactError(f"the job has no input artifact to read {name} from")
        found = [
            item
            for index in range(len(self._artifacts))
            if (item := self._read_member(index, name))
        ]
        if len(found) > 1:
            names = ", ".join(item.artifact.name for item in found)
            raise ArtifactError(
                f"{name} is at the root of several input artifacts ({names}): expected exactly one"
            )
        return found[0] if found else None

    def require(self, name: str) -> ArtifactFile:
        """Like `find`, but a missing file is an `ArtifactError`."""
        found = self.find(name)
        if found is None:
            names = ", ".join(f"{a.name} ({a.location.uri})" for a in self._artifacts)
            raise ArtifactError(
                f"{name} is missing from the root of the input artifact(s): {names}"
            )
        return found


def _root_member(archive: zipfile.ZipFile, name: str) -> zipfile.ZipInfo | None:
    for info in archive.infolist():
        if not info.is_dir() and info.filename.removeprefix("./") == name:
            return info
    return None
