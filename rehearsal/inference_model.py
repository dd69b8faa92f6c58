"""Load a `model.tar.gz` the way SageMaker's framework containers do, and run one request.

SageMaker unpacks the archive into the model directory, puts `code/` on the
import path, imports `code/inference.py` and calls its four handler functions:
`model_fn(model_dir)` once, then `input_fn(body, content_type)`,
`predict_fn(data, model)` and `output_fn(prediction, accept)` per request. For
`text/csv` and `application/json` the body reaches `input_fn` as text, as in the
scikit-learn container. This module does the same and classifies every failure
into the HTTP status a container answers with, so the server only does HTTP.
"""

from __future__ import annotations

import importlib.util
import sys
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from contracts.aws_errors import describe_exception
from rehearsal.errors import ConfigurationError

__all__ = [
    "DEFAULT_ACCEPT",
    "SUPPORTED_MEDIA_TYPES",
    "InferenceError",
    "InferenceModel",
    "InferenceResult",
    "choose_accept",
    "load_model_archive",
    "media_type_of",
]

SUPPORTED_MEDIA_TYPES = ("application/json", "text/csv")
"""What the container accepts and returns (the model's `inference.py` handles both)."""

DEFAULT_ACCEPT = "application/json"
"""Answer type when the client sends no `Accept` (or `*/*`), as SageMaker's default."""

_HANDLER_NAMES = ("model_fn", "input_fn", "predict_fn", "output_fn")


class InferenceError(Exception):
    """A request the container refuses or cannot serve, with the HTTP status it answers."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class InferenceResult:
    """The serialised prediction and its content type."""

    body: bytes
    content_type: str


def media_type_of(header: str | None) -> str:
    """`text/csv; charset=utf-8` -> `text/csv` (lower case); empty when absent."""
    return (header or "").split(";", 1)[0].strip().lower()


def choose_accept(header: str | None) -> str:
    """The first supported type in an `Accept` header; `DEFAULT_ACCEPT` for none or `*/*`.

    Raises `InferenceError(406)` when the client accepts only unsupported types.
    """
    offered = [media_type_of(part) for part in (header or "").split(",") if part.strip()]
    if not offered:
        return DEFAULT_ACCEPT
    for media_type in offered:
        if media_type in SUPPORTED_MEDIA_TYPES:
            return media_type
        if media_type in ("*/*", "application/*"):
            return DEFAULT_ACCEPT
        if media_type == "text/*":
            return "text/csv"
    raise InferenceError(406, f"Accept {header!r} is not supported; supported: {', '.join(SUPPORTED_MEDIA_TYPES)}")


class InferenceModel:
    """A loaded model and the handler functions of its `code/inference.py`."""

    def __init__(self, model_dir: Path, module: ModuleType, model: Any) -> None:
        self.model_dir = model_dir
        self.module = module
        self.model = model
        self._handlers: dict[str, Callable[..., Any]] = {name: getattr(module, name) for name in _HANDLER_NAMES}

    def invoke(self, body: bytes, content_type_header: str | None, accept_header: str | None) -> InferenceResult:
        """Run one request through `input_fn`, `predict_fn`, `output_fn`.

        415 for an unsupported content type, 406 for an unsupported accept,
        400 when `input_fn` refuses the payload (ValueError), 500 when the model
        or its code fails.
        """
        content_type = media_type_of(content_type_header)
        if content_type not in SUPPORTED_MEDIA_TYPES:
            shown = content_type or "(none)"
            raise InferenceError(415, f"Content-Type {shown} is not supported; supported: {', '.join(SUPPORTED_MEDIA_TYPES)}")
        accept = choose_accept(accept_header)
        try:
            text = body.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise InferenceError(400, f"the {content_type} payload is not UTF-8 text (byte {error.start})") from None
        try:
            data = self._handlers["input_fn"](text, content_type)
        except ValueError as error:
            raise InferenceError(400, f"bad {content_type} payload: {error}") from None
        except Exception as error:  # noqa: BLE001 - any other failure is the model code's
            raise InferenceError(500, f"input_fn failed: {describe_exception(error)}") from None
        try:
            prediction = self._handlers["predict_fn"](data, self.model)
        except Exception as error:  # noqa: BLE001
            raise InferenceError(500, f"predict_fn failed: {describe_exception(error)}") from None
        try:
            output = self._handlers["output_fn"](prediction, accept)
        except Exception as error:  # noqa: BLE001
            raise InferenceError(500, f"output_fn failed: {describe_exception(error)}") from None
        return _as_result(output, accept)


def _as_result(output: Any, accept: str) -> InferenceResult:
    """`output_fn` may return a body, or `(body, content_type)` as the containers allow."""
    content_type = accept
    if isinstance(output, tuple) and len(output) == 2:
        output, content_type = output
    if isinstance(output, str):
        return InferenceResult(output.encode("utf-8"), str(content_type))
    if isinstance(output, (bytes, bytearray)):
        return InferenceResult(bytes(output), str(content_type))
    raise InferenceError(500, f"output_fn returned {type(output).__name__}, expected str or bytes")


def _safe_extract(archive: Path, destination: Path) -> None:
    try:
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(destination, filter="data")
    except (tarfile.TarError, OSError, EOFError) as error:
        raise ConfigurationError(f"{archive} is not a readable model.tar.gz: {error}") from None


def load_model_archive(archive: Path, work_dir: Path) -> InferenceModel:
    """Unpack `archive` into `work_dir`, import `code/inference.py`, call `model_fn`.

    Raises `ConfigurationError` naming the archive and what is wrong with it.
    `code/` stays on `sys.path` (as in the container) so the inference code
    may import its sibling modules lazily.
    """
    if not archive.is_file():
        raise ConfigurationError(f"model archive {archive} does not exist")
    model_dir = work_dir / "model"
    model_dir.mkdir(parents=True, exist_ok=True)
    _safe_extract(archive, model_dir)
    code_dir = model_dir / "code"
    script = code_dir / "inference.py"
    if not script.is_file():
        raise ConfigurationError(f"{archive} has no code/inference.py (SageMaker would not find the handlers)")
    if str(code_dir) not in sys.path:
        sys.path.insert(0, str(code_dir))
    module_name = f"rehearsal_inference_{abs(hash(str(model_dir)))}"
    spec = importlib.util.spec_from_file_location(module_name, script)
    if spec is None or spec.loader is None:
        raise ConfigurationError(f"cannot import {script}")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as error:  # noqa: BLE001 - the model's code may fail in any way
        raise ConfigurationError(f"importing code/inference.py from {archive} failed: {describe_exception(error)}") from None
    missing = [name for name in _HANDLER_NAMES if not callable(getattr(module, name, None))]
    if missing:
        raise ConfigurationError(f"code/inference.py in {archive} lacks {', '.join(missing)}")
    try:
        model = module.model_fn(str(model_dir))
    except Exception as error:  # noqa: BLE001
        raise ConfigurationError(f"model_fn failed on {archive}: {describe_exception(error)}") from None
    return InferenceModel(model_dir=model_dir, module=module, model=model)
