"""Regenerate `release_tools/sagemaker_instance_types.json` from botocore's SageMaker service model.

The instance types SageMaker accepts for each use are enums in the service
model that botocore ships (`TrainingInstanceType`, `ProcessingInstanceType`,
`ProductionVariantInstanceType`). The table is checked in so that synth and
the Train stage need no botocore lookup; `tests/test_instance_types.py` fails
when it differs from the installed botocore, and this script brings it back
in line after a botocore upgrade.

Usage: python -m scripts.sagemaker_instance_types [--check]
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from release_tools.instance_types import ENUM_SHAPES, TABLE_PATH


def table_from_botocore() -> dict[str, Any]:
    """The table as the installed botocore's service model defines it."""
    import botocore
    import botocore.session

    model = botocore.session.get_session().get_service_model("sagemaker")
    return {
        "source": f"botocore {botocore.__version__}, service model sagemaker {model.api_version}",
        "enums": {use: sorted(model.shape_for(shape).enum) for use, shape in ENUM_SHAPES.items()},
    }


def render(table: dict[str, Any]) -> str:
    return json.dumps(table, indent=1, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts.sagemaker_instance_types", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the checked-in table is out of date")
    args = parser.parse_args(argv)
    fresh = render(table_from_botocore())
    if args.check:
        current = TABLE_PATH.read_text(encoding="utf-8") if TABLE_PATH.is_file() else ""
        if json.loads(current or "{}").get("enums") != json.loads(fresh)["enums"]:
            print(f"{TABLE_PATH.name} is out of date; run: python -m scripts.sagemaker_instance_types", file=sys.stderr)
            return 1
        return 0
    TABLE_PATH.write_text(fresh, encoding="utf-8")
    print(f"wrote {TABLE_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
