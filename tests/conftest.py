"""Test-session set-up: import roots, and the app synthesized once per session."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# `lambdas/` is the import root of the Lambda functions, as in the Lambda runtime.
for path in (ROOT, ROOT / "lambdas"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
