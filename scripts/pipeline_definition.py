"""Tell the operator, before `make deploy`, when the deploy changes the pipeline's definition.

CodePipeline ("Configuring stage rollback", considerations): "The pipeline can
only roll back to a previous execution if the previous execution was started in
the current pipeline structure version." So a deploy that changes the pipeline
leaves DeployProd without an automatic-rollback target until one release
succeeds in it again. This script fingerprints the synthesized
`AWS::CodePipeline::Pipeline` properties (any change makes CloudFormation
update the pipeline, which makes a new structure version), compares the
fingerprint with the one recorded after the last successful `make deploy` from
this checkout, and prints what that means. Offline: it reads only `cdk.out/`.

    python -m scripts.pipeline_definition check cdk.out    # before deploying: prints the notice
    python -m scripts.pipeline_definition record cdk.out   # after a successful deploy
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["DEFAULT_STATE", "check", "fingerprints", "main", "record"]

DEFAULT_STATE = Path(".deploy-state/pipeline-definition.json")
ROLLBACK_NOTICE = (
    "CodePipeline rolls back only to executions started in the current pipeline structure version: until a "
    "release succeeds in DeployProd after this deploy, a failed DeployProd cannot roll back automatically "
    '(roll production back by hand with `python -m release_tools.rollback`, README "Production deployments").'
)


class DefinitionError(Exception):
    """The cloud assembly or the record cannot be read; one line."""


def fingerprints(cdk_out: Path) -> dict[str, str]:
    """{stack name: sha256 of its pipeline's canonical properties} for every stack in the assembly with a pipeline."""
    try:
        manifest = json.loads((cdk_out / "manifest.json").read_text())
    except (OSError, ValueError) as error:
        raise DefinitionError(f"cannot read {cdk_out / 'manifest.json'} ({error}); run `make synth` first") from None
    found: dict[str, str] = {}
    for artifact in manifest.get("artifacts", {}).values():
        if artifact.get("type") != "aws:cloudformation:stack":
            continue
        properties = artifact.get("properties", {})
        template = json.loads((cdk_out / properties["templateFile"]).read_text())
        pipelines = [
            r.get("Properties", {})
            for r in template.get("Resources", {}).values()
            if r.get("Type") == "AWS::CodePipeline::Pipeline"
        ]
        if pipelines:
            canonical = json.dumps(pipelines, sort_keys=True, separators=(",", ":"))
            found[properties.get("stackName", artifact.get("displayName", "?"))] = hashlib.sha256(canonical.encode()).hexdigest()
    if not found:
        raise DefinitionError(f"no CodePipeline pipeline in the assembly {cdk_out}")
    return found


def _recorded(state: Path) -> dict[str, Any]:
    if not state.exists():
        return {}
    try:
        recorded = json.loads(state.read_text())
    except (OSError, ValueError) as error:
        raise DefinitionError(f"cannot read {state} ({error}); delete it to start a new record") from None
    return recorded if isinstance(recorded, dict) else {}


def check(cdk_out: Path, state: Path = DEFAULT_STATE) -> list[str]:
    """One line per pipeline: unchanged, changed (with the rollback notice), or never recorded."""
    recorded = _recorded(state)
    lines = []
    for stack, digest in sorted(fingerprints(cdk_out).items()):
        before = recorded.get(stack)
        if before == digest:
            lines.append(f"pipeline definition of {stack}: unchanged since the last deploy from this checkout.")
        elif before is None:
            lines.append(
                f"pipeline definition of {stack}: no earlier deploy recorded in {state}. If {stack} already "
                f"exists and this deploy changes its pipeline: {ROLLBACK_NOTICE}"
            )
        else:
            lines.append(
                f"NOTICE: this deploy changes the pipeline definition of {stack} "
                f"({before[:12]} -> {digest[:12]}). {ROLLBACK_NOTICE}"
            )
    return lines


def record(cdk_out: Path, state: Path = DEFAULT_STATE) -> None:
    """Remember the deployed definitions (after a successful deploy)."""
    recorded = _recorded(state)
    recorded.update(fingerprints(cdk_out))
    state.parent.mkdir(parents=True, exist_ok=True)
    state.write_text(json.dumps(recorded, indent=2, sort_keys=True) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.pipeline_definition", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=("check", "record"))
    parser.add_argument("cdk_out", type=Path)
    parser.add_argument("--state", type=Path, default=DEFAULT_STATE)
    args = parser.parse_args(argv)
    try:
        if args.command == "check":
            print("\n".join(check(args.cdk_out, args.state)))
        else:
            record(args.cdk_out, args.state)
            print(f"pipeline definition recorded in {args.state}")
    except DefinitionError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
