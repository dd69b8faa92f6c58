"""Read files from the root of a CodePipeline input artifact (a zip in S3).

The artifact is fetched with the job's own `artifactCredentials`, as
CodePipeline documents: the function's role need not be able to read the
artifact bucket. S3 decrypts SSE-KMS objects itself (SigV4 is required, and is
forced here). Every failure raises `ArtifactError` with one line naming the
artifact, its S3 location and the file.

Memory stays bounded whatever the artifact holds (`input_limits`): the
artifact is refused on its `ContentLength` before any byte is read, streamed
to a temporary file (never held in memory), and a file in it is refused on
its declared size before it is decompressed, and again while it is read.
An artifact in which any entry name appears twice is refused: which copy a
reader would take is a property of the zip library, not of the release.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

from contracts.aws_errors import code_or_type

from .codepipeline_job import ArtifactCredentials, InputArtifact
from .input_limits import (
    MAX_ARTIFACT_BYTES,
    MAX_ARTIFACT_ENTRIES,
    MAX_FILE_BYTES,
    BoundedJsonError,
    beyond_bound,
    describe_bytes,
    json_refusal,
    parse_bounded_json,
    read_at_most,
)

if TYPE_CHECKING:  # zipfile is imported on first use: it is slow to import at cold start
    import zipfile

__all__ = [
    "MAX_ARTIFACT_BYTES",
    "MAX_FILE_BYTES",
    "ArtifactError",
    "ArtifactFile",
    "ArtifactReader",
    "artifact_s3_client",
]

_DOWNLOAD_CHUNK_BYTES = 1024 * 1024


class ArtifactError(ValueError):
    """An input artifact, or a file in it, is missing or unreadable."""


@dataclass(frozen=True, eq=False)  # never compared: no __eq__/__hash__ to build at cold start
class ArtifactFile:
    """A file found at the root of an input artifact."""

    artifact: InputArtifact
    name: str
    content: bytes
    kms_key_id: str | None = None
    # The S3 version of the artifact object the file came from (versioned artifact stores).
    version_id: str | None = None

    @property
    def where(self) -> str:
        """Human-readable location: `evaluation.json in artifact TrainOutput (s3://...)`."""
        return f"{self.name} in artifact {self.artifact.name} ({self.artifact.location.uri})"

    def text(self) -> str:
        """The content decoded as UTF-8 (a BOM is tolerated)."""
        try:
            return self.content.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise ArtifactError(f"{self.where} is not UTF-8 text (byte {error.start})") from None

    def json(self) -> Any:
        """The content parsed as JSON within the functions' bounds (nesting, number length); NaN is refused."""
        try:
            return parse_bounded_json(self.text())
        except BoundedJsonError as error:
            raise ArtifactError(json_refusal(self.where, error)) from None


def artifact_s3_client(credentials: ArtifactCredentials | None) -> Any:
    """An S3 client signed with the job's artifact credentials (SigV4, for SSE-KMS objects)."""
    if credentials is None:
        raise ArtifactError("the job carries no artifactCredentials: cannot read input artifacts")
    import boto3  # imported lazily: keeps the handler's cold import fast
    from botocore.config import Config

    return boto3.client(
        "s3",
        aws_access_key_id=credentials.access_key_id,
        aws_secret_access_key=credentials.secret_access_key,
        aws_session_token=credentials.session_token,
        config=Config(signature_version="s3v4", retries={"max_attempts": 3, "mode": "standard"}),
    )


@dataclass
class _OpenedArtifact:
    archive: zipfile.ZipFile
    kms_key_id: str | None
    version_id: str | None = None


def _stream_to_file(body: Any, where: str) -> IO[bytes]:
    """Copy the S3 body to a temporary file in bounded chunks; refuse it past MAX_ARTIFACT_BYTES."""
    import tempfile

    spool = tempfile.TemporaryFile()
    copied = 0
    try:
        while chunk := body.read(_DOWNLOAD_CHUNK_BYTES):
            copied += len(chunk)
            if copied > MAX_ARTIFACT_BYTES:
                raise ArtifactError(f"{where} is larger than the {describe_bytes(MAX_ARTIFACT_BYTES)} a function reads")
            spool.write(chunk)
    except ArtifactError:
        spool.close()
        raise
    except Exception as error:  # noqa: BLE001 - a broken download is an unreadable artifact
        spool.close()
        raise ArtifactError(f"{where} could not be downloaded: {code_or_type(error)}") from None
    spool.seek(0)
    return spool


def _open_archive(spool: IO[bytes], where: str) -> zipfile.ZipFile:
    """The zip directory, refused when too large or when an entry name appears twice."""
    import zipfile

    try:
        archive = zipfile.ZipFile(spool)
    except (zipfile.BadZipFile, OSError, ValueError):
        spool.close()
        raise ArtifactError(f"{where} is not a zip file") from None
    names = [info.filename.removeprefix("./") for info in archive.infolist()]
    problem = None
    if len(names) > MAX_ARTIFACT_ENTRIES:
        problem = f"{where} has {len(names)} entries, more than the {MAX_ARTIFACT_ENTRIES} a function reads"
    else:
        from collections import Counter

        twice = next((name for name, count in Counter(names).items() if count > 1), None)
        if twice is not None:
            problem = f"{where} holds {twice!r} twice: an artifact with duplicate entries is ambiguous"
    if problem:
        archive.close()
        raise ArtifactError(problem)
    return archive


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
            response = self._s3.get_object(Bucket=artifact.location.bucket, Key=artifact.location.key)
        except Exception as error:  # noqa: BLE001 - any S3/credential failure is an unreadable artifact
            raise ArtifactError(f"{where} could not be read: {code_or_type(error)}") from None
        size = response.get("ContentLength")
        if isinstance(size, int) and size > MAX_ARTIFACT_BYTES:
            response["Body"].close()
            raise ArtifactError(beyond_bound(where, MAX_ARTIFACT_BYTES, size))
        archive = _open_archive(_stream_to_file(response["Body"], where), where)
        kms_key_id = response.get("SSEKMSKeyId") if response.get("ServerSideEncryption") == "aws:kms" else None
        version = response.get("VersionId")
        opened = _OpenedArtifact(
            archive=archive, kms_key_id=kms_key_id, version_id=str(version) if version and version != "null" else None
        )
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
            raise ArtifactError(beyond_bound(where, MAX_FILE_BYTES, info.file_size))
        try:
            with opened.archive.open(info) as member:
                content = read_at_most(member, MAX_FILE_BYTES)
        except (
            zipfile.BadZipFile,
            OSError,
            RuntimeError,
            NotImplementedError,
            EOFError,
        ) as error:
            raise ArtifactError(f"{where} could not be extracted: {error}") from None
        if content is None:
            raise ArtifactError(beyond_bound(where, MAX_FILE_BYTES))
        return ArtifactFile(
            artifact=artifact,
            name=name,
            content=content,
            kms_key_id=opened.kms_key_id,
            version_id=opened.version_id,
        )

    def find(self, name: str) -> ArtifactFile | None:
        """The file `name` at the root of exactly one input artifact; `None` if in none.

        Raises `ArtifactError` if an artifact cannot be read (its contents are
        unknown, so the file's uniqueness cannot be checked) or if the file is
        in more than one artifact (which one is meant is ambiguous).
        """
        if not self._artifacts:
            raise ArtifactError(f"the job has no input artifact to read {name} from")
        found = [item for index in range(len(self._artifacts)) if (item := self._read_member(index, name))]
        if len(found) > 1:
            names = ", ".join(item.artifact.name for item in found)
            raise ArtifactError(f"{name} is at the root of several input artifacts ({names}): expected exactly one")
        return found[0] if found else None

    def require(self, name: str) -> ArtifactFile:
        """Like `find`, but a missing file is an `ArtifactError`."""
        found = self.find(name)
        if found is None:
            names = ", ".join(f"{a.name} ({a.location.uri})" for a in self._artifacts)
            raise ArtifactError(f"{name} is missing from the root of the input artifact(s): {names}")
        return found


def _root_member(archive: zipfile.ZipFile, name: str) -> zipfile.ZipInfo | None:
    for info in archive.infolist():
        if not info.is_dir() and info.filename.removeprefix("./") == name:
            return info
    return None
