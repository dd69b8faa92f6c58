#!/usr/bin/env python3
"""ml-cicd: the CDK application. The only reader of the `ml-cicd` context key."""

from __future__ import annotations

import sys
from pathlib import Path

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from stacks.config import ConfigError, load_config
from stacks.endpoint_templates import EndpointTemplates
from stacks.pipeline_stack import PipelineStack


def build_app(app: cdk.App, *, nag: bool = True) -> PipelineStack:
    """Validate the configuration from the app's context and add every stack to the app.

    Raises ConfigError (one line, names the key) before any construct exists.
    """
    config = load_config(app.node.get_all_context())
    if nag:
        cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    templates = EndpointTemplates(app, "Endpoints", config=config)
    templates_dir = templates.write_templates(Path(app.outdir) / "endpoint-templates")
    env = config.pipeline_env
    return PipelineStack(
        app, "Pipeline",
        stack_name=f"{config.project_name}-pipeline",
        description=(
            f"{config.project_name}: CI/CD for ML models. CodeCommit repository, build projects, gates, "
            "model registry and the release pipeline (Source > Build > Train > Evaluate > DeployStaging > "
            "TestStaging > Approve > DeployProd > Promote)."
        ),
        config=config,
        endpoint_templates_dir=templates_dir,
        env=cdk.Environment(account=env.account, region=env.region),
    )


def main() -> int:
    app = cdk.App()
    try:
        build_app(app)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        app.synth()
    except RuntimeError as error:
        if "ValidationFailed" not in str(error):
            raise
        # The findings were printed above, one per construct, with the ID to acknowledge.
        print("error: validation failed: see the findings above", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
