#!/usr/bin/env python3
"""ml-cicd: the CDK application. The only reader of the `ml-cicd` context key.

Start-up is ordered for speed (see `main`): the stacks are imported while the
jsii process builds CDK's CloudFormation validation engine.
"""

from __future__ import annotations

import gc
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks  # loads cdk-nag into the jsii process: before `main` starts its thread

if TYPE_CHECKING:
    from stacks.pipeline_stack import PipelineStack


def build_app(
    app: cdk.App,
    *,
    nag: bool = True,
    validation: cdk.CloudFormationValidatePlugin | None = None,
) -> PipelineStack:
    """Validate the configuration from the app's context and add every stack to the app.

    `validation`, when given, is registered on the app in place of CDK's
    default CloudFormation validation plugin (same rules, already built).
    Raises ConfigError (one line, names the key) before any construct exists.
    """
    # Imported here, not at the top, so that `main` can import them on one thread while another
    # waits for the jsii process. They are pure Python: importing them makes no jsii call.
    from stacks.accounts import account_layout, model_package_group_name
    from stacks.config import load_config
    from stacks.endpoint_templates import EndpointTemplates
    from stacks.pipeline_stack import PipelineStack

    config = load_config(app.node.get_all_context())
    layout = account_layout(config)  # refuses an unusable account layout (one line) before any construct exists
    if validation is not None:
        cdk.Validations.of(app).add_plugins(validation)
    if nag:
        cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    templates = EndpointTemplates(app, "Endpoints", config=config)
    templates_dir = templates.write_templates(Path(app.outdir) / "endpoint-templates")
    env = config.pipeline_env
    if layout.cross_account:
        from stacks.target_account_stack import TargetAccountStacks

        TargetAccountStacks(
            app, "Targets", layout=layout, group_name=model_package_group_name(config.project_name), region=env.region
        ).write_templates(Path(app.outdir) / "target-templates")
    return PipelineStack(
        app,
        "Pipeline",
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


def _import_stacks_while_building_validation() -> cdk.CloudFormationValidatePlugin:
    """CDK's CloudFormation validation plugin, built while this thread imports the stacks.

    Building the plugin compiles its rule engine (WebAssembly) inside the jsii
    process: about 0.7 s of work that an empty CDK app pays too. Importing the
    stacks and their aws_cdk modules is about 0.3 s of pure-Python work. Done
    on two threads, the two overlap on separate cores. The jsii client is not
    thread-safe, so nothing on this thread may call into jsii until the plugin
    is built; tests/test_app_startup.py runs the app and checks that no two jsii
    calls ever overlap.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="cfn-validation") as pool:
        plugin = pool.submit(cdk.CloudFormationValidatePlugin)
        import stacks.endpoint_templates  # noqa: F401
        import stacks.pipeline_stack  # noqa: F401

        return plugin.result()


def main() -> int:
    validation = _import_stacks_while_building_validation()
    # The modules imported so far live as long as the process: keep the garbage collector from
    # scanning their objects again in every collection during synthesis (about 0.2 s).
    gc.freeze()
    from stacks.config import ConfigError

    app = cdk.App()
    try:
        build_app(app, validation=validation)
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
