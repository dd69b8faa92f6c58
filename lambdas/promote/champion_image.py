"""Keep the champion's own image: tag it `champion-<version>` in the project's image repository.

The image repository's lifecycle keeps the images of recent releases and every
image tagged `champion-*` ("An image that matches the tagging requirements of a
rule cannot be expired by a rule with a lower priority", ECR lifecycle
policies), so tagging the promoted release's image keeps what production may
need when it scales out or is rolled back to. Tags are immutable: a new tag
is added to the image's manifest (PutImage), never moved. A release served on
the prebuilt scikit-learn image has nothing to keep.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from contracts.aws_errors import code_or_type
from contracts.image_tags import CHAMPION_TAG_PREFIX

__all__ = ["CHAMPION_TAG_PREFIX", "ImageTagError", "champion_tag", "protect_champion_image"]

_ALREADY = ("ImageAlreadyExistsException",)


class ImageTagError(RuntimeError):
    """The champion's image could not be tagged; one line."""


def champion_tag(package_arn: str) -> str:
    """`champion-<version>` from `arn:...:model-package/<group>/<version>`."""
    return f"{CHAMPION_TAG_PREFIX}{package_arn.rsplit('/', 1)[-1]}"


def _digest_in(image: str, repository_uri: str) -> str | None:
    """The digest when `image` is `<repository_uri>@sha256:...` (the project's own image by digest)."""
    prefix = f"{repository_uri}@"
    return image[len(prefix) :] if image.startswith(prefix) and image[len(prefix) :].startswith("sha256:") else None


def protect_champion_image(ecr: Any, package: Mapping[str, Any], *, repository_name: str, repository_uri: str) -> str | None:
    """Tag the package's image when it is the project's own; return the tag, or None for a prebuilt image."""
    containers = (package.get("InferenceSpecification") or {}).get("Containers") or []
    digest = _digest_in(str(containers[0].get("Image", "")) if containers else "", repository_uri)
    if digest is None:
        return None
    tag = champion_tag(str(package["ModelPackageArn"]))
    try:
        images = ecr.batch_get_image(repositoryName=repository_name, imageIds=[{"imageDigest": digest}])["images"]
        if not images:
            raise ImageTagError(f"image {digest} is not in {repository_name}: the champion's image cannot be kept")
        ecr.put_image(
            repositoryName=repository_name,
            imageManifest=images[0]["imageManifest"],
            imageManifestMediaType=images[0].get("imageManifestMediaType", ""),
            imageTag=tag,
            imageDigest=digest,
        )
    except ImageTagError:
        raise
    except Exception as error:  # noqa: BLE001 - a tag already there is the goal; anything else is one line
        code = code_or_type(error)
        if code not in _ALREADY:
            raise ImageTagError(f"tagging {digest} as {tag} in {repository_name} failed: {code}") from None
    return tag
