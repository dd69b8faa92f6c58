"""Print the platform floors of `cdk.json` (validated as the app validates them) as JSON.

`make rehearse` hands them to the local gates, so a rehearsal judges a model
exactly as the deployed gates would: repository policy merged with the floors.
Usage: python -m scripts.platform_floors [CDK_JSON]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from stacks.config import ConfigError, load_config


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0] if args else "cdk.json")
    try:
        context = json.loads(path.read_text(encoding="utf-8")).get("context", {})
        print(load_config(context).platform_floors_json)
    except (OSError, json.JSONDecodeError) as error:
        print(f"error: {path}: {error}", file=sys.stderr)
        return 2
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
