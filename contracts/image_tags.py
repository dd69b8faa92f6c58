"""The tag that keeps a champion's image: written by the promote function, kept by the repository's lifecycle.

The promote function tags the promoted release's own image `champion-<version>`
(`lambdas/promote/champion_image.py`); the image repository's lifecycle rule
(`stacks/components/image_repository.py`) never expires an image whose tag
starts with this prefix. One prefix, imported by both.
"""

from __future__ import annotations

__all__ = ["CHAMPION_TAG_PREFIX"]

CHAMPION_TAG_PREFIX = "champion-"
