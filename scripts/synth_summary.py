"""`make synth`'s summary: what was synthesized, in the words of the consoles people will open.

Usage: python -m scripts.synth_summary CDK_OUT_DIR
Reads only the cloud assembly (templates and manifests); prints stacks,
the pipeline's stages and actions in order, resource counts, the gates and
where their policy comes from, and the estimated idle monthly cost.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from contracts.platform_floors import FLOORS_VARIABLE, parse_platform_floors
from scripts.cost_estimate import idle_monthly_cost

__all__ = ["load_templates", "main", "summarize"]


def load_templates(cdk_out: Path) -> dict[str, dict[str, Any]]:
    """Every stack template in the assembly, nested assemblies included: display name -> template."""
    templates: dict[str, dict[str, Any]] = {}

    def walk(directory: Path) -> None:
        manifest = json.loads((directory / "manifest.json").read_text())
        for artifact_id, artifact in sorted(manifest.get("artifacts", {}).items()):
            kind, props = artifact.get("type"), artifact.get("properties", {})
            if kind == "aws:cloudformation:stack":
                name = props.get("stackName", artifact_id)
                templates[name] = json.loads((directory / props["templateFile"]).read_text())
            elif kind == "cdk:cloud-assembly":
                walk(directory / props["directoryName"])

    walk(cdk_out)
    return templates


def _resources(template: Mapping[str, Any], resource_type: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for logical_id, resource in template.get("Resources", {}).items():
        if resource.get("Type") == resource_type:
            yield logical_id, resource.get("Properties", {})


def _describe_action(action: Mapping[str, Any], template: Mapping[str, Any]) -> str:
    provider = action["ActionTypeId"]["Provider"]
    configuration = action.get("Configuration", {})
    resources = template.get("Resources", {})

    def target(key: str) -> Mapping[str, Any]:
        ref = configuration.get(key, {})
        logical = ref.get("Ref") if isinstance(ref, dict) else None
        return resources.get(logical, {}).get("Properties", {}) if logical else {}

    if provider == "CodeBuild":
        description = target("ProjectName").get("Description", "")
        spec = description.rsplit("Buildspec: ", 1)[-1].rstrip(".") if "Buildspec: " in description else "?"
        return f"CodeBuild ({spec})"
    if provider == "Lambda":
        handler = target("FunctionName").get("Handler", "?")
        return f"Lambda (lambdas/{handler.split('.')[0]}/)"
    if provider == "CloudFormation":
        return f"CloudFormation deploy of stack {configuration.get('StackName')}"
    if provider == "CodeCommit":
        return f"CodeCommit, branch {configuration.get('BranchName')}"
    if provider == "CodeStarSourceConnection":
        return f"{configuration.get('FullRepositoryId')} through a CodeConnections connection, branch {configuration.get('BranchName')}"
    if provider == "Manual":
        return "manual approval"
    return provider


def _rendered(value: Any) -> str:
    """An output's value as text: a `Ref` to a pseudo parameter reads `<AWS::Region>` (the stack's own)."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping) and "Ref" in value:
        return f"<{value['Ref']}>"
    if isinstance(value, Mapping) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return str(separator).join(_rendered(part) for part in parts)
    return json.dumps(value)


def _connection_reminders(templates: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """What a person must do on the host when the source is a connection: CloudFormation cannot."""
    lines: list[str] = []
    for template in templates.values():
        outputs = template.get("Outputs", {})
        if "SourceConnectionArn" not in outputs:
            continue
        lines.append("Source on an external host: do this once on the host (CloudFormation cannot)")
        if "CompleteTheConnection" in outputs:
            lines.append("  - The stack creates the connection PENDING: complete it in the console after `make deploy`:")
            lines.append(f"    {_rendered(outputs['CompleteTheConnection']['Value'])}")
            lines.append(
                "    (Developer Tools > Settings > Connections > Update pending connection; stack output CompleteTheConnection)."
            )
        if "NextStep" in outputs:
            lines.append("  - No pull-request checks yet (their webhook needs a completed connection): once it is completed,")
            lines.append("    set source.connection_completed to true in cdk.json and run `make deploy` again.")
        if "PullRequestStatusName" in outputs:
            status = outputs["PullRequestStatusName"]["Value"]
            lines.append("  - Protect the release branch: require a pull request with at least one approving review, and the")
            lines.append(f"    status check {status!r} (posted by the pull-request checks) to pass before merging;")
            lines.append('    block direct pushes and force pushes (README: "Releasing from GitHub, GitLab or Bitbucket").')
            lines.append("  - Attach the stack output HostChecksGuardPolicyArn to every person and CI role of the account:")
            lines.append("    a build started by hand could post that status for any commit.")
        lines.append("")
    return lines


def _floor_rules(templates: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The evaluation gate's `PLATFORM_FLOORS`, read as the gate reads it (`contracts.platform_floors`), one rule a line."""
    raw = None
    for template in templates.values():
        for _, function in _resources(template, "AWS::Lambda::Function"):
            if str(function.get("Handler", "")).startswith("evaluation_gate."):
                raw = function.get("Environment", {}).get("Variables", {}).get(FLOORS_VARIABLE)
    floors = parse_platform_floors(raw)
    if floors is None:
        return []
    document = floors.to_dict()
    rules = [
        f"{group}.{metric}.{bound} {value}"
        for group in ("metrics", "champion")
        for metric, bounds in sorted(document[group].items())
        for bound, value in sorted(bounds.items())
    ]
    return rules + [
        f"{section}.{bound} {value}"
        for section in ("staging", "evaluation", "image")
        for bound, value in sorted((document.get(section) or {}).items())
    ]


def summarize(cdk_out: Path) -> str:
    """The summary text for a synthesized assembly."""
    templates = load_templates(cdk_out)
    lines = [f"ml-cicd: {len(templates)} stacks synthesized; cdk-nag AwsSolutions and CloudFormation validation passed.", ""]
    lines.append("Stacks (CloudFormation console names)")
    for name, template in templates.items():
        count = len(template.get("Resources", {}))
        deployed_by = "make deploy" if not name.endswith("-endpoint") and "Endpoints" not in name else "the release pipeline"
        lines.append(f"  {name:<42} {count:>4} resources  deployed by {deployed_by}")
        kinds = Counter(r["Type"].removeprefix("AWS::") for r in template.get("Resources", {}).values())
        lines.append("      " + ", ".join(f"{kind} {n}" for kind, n in sorted(kinds.items())))
    lines.append("")

    for name, template in templates.items():
        for _, pipeline in _resources(template, "AWS::CodePipeline::Pipeline"):
            lines.append(f"Release pipeline (type {pipeline.get('PipelineType')}, stack {name})")
            for number, stage in enumerate(pipeline.get("Stages", []), start=1):
                conditions = [key for key in ("BeforeEntry", "OnSuccess", "OnFailure") if key in stage]
                suffix = f"  [{', '.join(conditions)}]" if conditions else ""
                lines.append(f"  {number}. {stage['Name']}{suffix}")
                for action in sorted(stage.get("Actions", []), key=lambda a: a.get("RunOrder", 1)):
                    lines.append(f"       {action['Name']:<17} {_describe_action(action, template)}")
            lines.append("")

    stage_names = [
        stage["Name"]
        for template in templates.values()
        for _, pipeline in _resources(template, "AWS::CodePipeline::Pipeline")
        for stage in pipeline.get("Stages", [])
    ]
    lines.append("Gates and their policy")
    lines.append("  EvaluationGate, StagingGate: release-policy.yaml at the root of the model repository (checked in the Build")
    lines.append("  stage), merged with the platform floors from cdk.json `ml-cicd.platform_floors` (stricter bound wins):")
    rules = _floor_rules(templates)
    lines.append("    " + ("; ".join(rules) if rules else "no platform floors configured"))
    approval = "Approve" in stage_names
    lines.append(f"  Approve: {'manual approval required' if approval else 'no manual approval (configured off)'}")
    lines.append("")

    lines += _connection_reminders(templates)
    cost = idle_monthly_cost(templates)
    known = sum(line.monthly_usd or 0.0 for line in cost)
    lines.append(f"Estimated idle monthly cost: ${known:,.2f} (us-east-1 list prices, no traffic; scripts/cost_estimate.py)")
    for line in cost:
        price = "price unknown" if line.monthly_usd is None else f"${line.monthly_usd:,.2f}"
        lines.append(f"  {line.item:<62} {price}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m scripts.synth_summary CDK_OUT_DIR", file=sys.stderr)
        return 2
    cdk_out = Path(args[0])
    if not (cdk_out / "manifest.json").is_file():
        print(f"error: {cdk_out} holds no cloud assembly (run the synth first)", file=sys.stderr)
        return 2
    print(summarize(cdk_out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
