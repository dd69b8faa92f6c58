"""Which image a release trains, evaluates and serves with: the repository's own (by digest) or scikit-learn's.

The Build stage's image action writes `image.json` (`buildspecs/image.yml`):
`{"image_uri": null}` when the commit has no `Dockerfile`, else the pushed and
scanned image as `<registry>/<repository>@sha256:<digest>`. Only a digest
reference is accepted, so every later stage uses exactly the scanned image.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import ReleaseToolError
from .image_uri import sklearn_image_uri

__all__ = ["ModelImage", "resolve_model_image"]

_BY_DIGEST = re.compile(r"\A[0-9]{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/[a-z0-9._/-]+@sha256:[0-9a-f]{64}\Z")


@dataclass(frozen=True)
class ModelImage:
    """The image URI, and whether it is the repository's own (SageMaker container contract, no script mode)."""

    uri: str
    custom: bool

    @property
    def digest(self) -> str | None:
        return self.uri.rsplit("@", 1)[1] if self.custom else None


def resolve_model_image(image_json: Path | None, region: str) -> ModelImage:
    """The repository's scanned image from `image.json`, else the region's scikit-learn image."""
    if image_json is None or not image_json.is_file():
        return ModelImage(sklearn_image_uri(region), custom=False)
    try:
        uri = json.loads(image_json.read_text(encoding="utf-8")).get("image_uri")
    except (OSError, ValueError, AttributeError) as error:
        raise ReleaseToolError(f"{image_json}: not a readable image record ({error})") from None
    if uri is None:
        return ModelImage(sklearn_image_uri(region), custom=False)
    if not isinstance(uri, str) or not _BY_DIGEST.match(uri):
        raise ReleaseToolError(
            f"{image_json}: image_uri {str(uri)[:120]!r} is not an ECR image by digest "
            "(<account>.dkr.ecr.<region>.amazonaws.com/<repository>@sha256:<64 hex>)"
        )
    return ModelImage(uri, custom=True)
