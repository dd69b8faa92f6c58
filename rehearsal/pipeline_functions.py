"""The pipeline functions the rehearsal invokes: the real handlers, imported from `lambdas/`.

`lambdas/` is the functions' import root, as in the Lambda runtime (each
handler string is `<name>.handler.handler` and the functions import their
shared `function_kit` and `contracts` packages by those top-level names), so
it goes on `sys.path` here, once, before the handlers are imported.
"""

from __future__ import annotations

import sys
from pathlib import Path

LAMBDAS_ROOT = Path(__file__).resolve().parent.parent / "lambdas"
if str(LAMBDAS_ROOT) not in sys.path:
    sys.path.insert(0, str(LAMBDAS_ROOT))

from evaluation_gate.handler import handler as evaluation_gate  # noqa: E402
from promote.handler import handler as promote  # noqa: E402
from staging_gate.handler import handler as staging_gate  # noqa: E402

__all__ = ["LAMBDAS_ROOT", "evaluation_gate", "promote", "staging_gate"]
