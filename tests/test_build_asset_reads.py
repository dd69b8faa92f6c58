"""The builds' own `aws s3 cp` of the platform assets is allowed by each project's role (concrete ARNs).

The runtime-permission plugin sees calls made from Python; the buildspecs also
call the AWS CLI before any Python runs. Each `aws s3 cp "$VAR"` is judged
here as the s3:GetObject it is, on the object the project's environment
names, against that project's synthesized role, with the template resolved for
one account and region (no name left open).
"""

from __future__ import annotations

import json
import re
from typing import Any

from tests.cfn_template_world import TemplateWorld
from tests.iam_policy_evaluation import Request, evaluate
from tests.synthesis_fixtures import SynthesizedApp

_COPY = re.compile(r'aws s3 cp (?:--quiet )?"\$(\w+)"')


def _asset_reads(pipeline: dict[str, Any]) -> list[tuple[str, str, Request]]:
    world = TemplateWorld(pipeline)
    reads = []
    for logical_id, resource in pipeline["Resources"].items():
        if resource["Type"] != "AWS::CodeBuild::Project":
            continue
        properties = resource["Properties"]
        spec = json.loads(properties["Source"]["BuildSpec"])
        commands = [c for phase in spec["phases"].values() for c in phase.get("commands", [])]
        variables = {v["Name"]: world.resolve(v["Value"]) for v in properties["Environment"]["EnvironmentVariables"]}
        for command in commands:
            for name in _COPY.findall(command):
                bucket, key = variables[name].removeprefix("s3://").split("/", 1)
                reads.append((logical_id, world.role_of(logical_id), Request("s3:GetObject", f"arn:aws:s3:::{bucket}/{key}")))
    return reads


def test_every_build_may_read_the_assets_its_buildspec_copies(synthesized: SynthesizedApp) -> None:
    reads = _asset_reads(synthesized.pipeline)
    assert len({project for project, _, _ in reads}) >= 3 and len(reads) >= 6  # ci, train, pull-request checks: tools + schemas
    world = TemplateWorld(synthesized.pipeline)
    denied = [(project, r.resource) for project, role, r in reads if not evaluate(world.role_statements(role), r).allowed]
    assert not denied


def test_without_the_asset_grant_the_copy_is_refused(synthesized: SynthesizedApp) -> None:
    world = TemplateWorld(synthesized.pipeline)
    project, role, read = _asset_reads(synthesized.pipeline)[0]
    statements = [s for s in world.role_statements(role) if s.get("Sid") != "ReadPlatformAssets"]
    assert not evaluate(statements, read).allowed, project
