"""Step 8: make the released model the champion.

The rehearsal does what the DeployProd and Promote stages do: a production
endpoint serving the release's package (in the sandbox), then the real
promote function (`lambdas/promote/handler.py`) with
`{"action": "verify_production", ...}` and `{"action": "promote", ...}`. The
runner then stores the model as the local champion.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rehearsal.aws_sandbox import Sandbox
from rehearsal.sandbox_registry import MODEL_PACKAGE_GROUP, deploy_endpoint

__all__ = ["PROMOTE_HANDLER", "promote_release"]

PROMOTE_HANDLER = "promote handler (lambdas/promote/handler.py)"


def promote_release(
    sandbox: Sandbox,
    *,
    run_action: Callable[..., Any],
    model_package_arn: str,
    run_id: str,
    variables: dict[str, str],
) -> str:
    """Promote the release; return who promoted it. `run_action` blocks on a failed answer.

    DeployProd's outputs join `variables`, the CodePipeline variables the actions' UserParameters use.
    """
    production = deploy_endpoint(sandbox.sagemaker, stage="production", model_package_arn=model_package_arn, run_id=run_id)
    variables["DeployProd.EndpointName"] = production.endpoint_name
    variables["DeployProd.EndpointConfigName"] = production.endpoint_config_name
    environment = {"MODEL_PACKAGE_GROUP_NAME": MODEL_PACKAGE_GROUP}
    for action, pipeline_action in (("verify_production", "VerifyProduction"), ("promote", "Promote")):
        run_action(
            gate=f"promote function ({action})",
            action=pipeline_action,
            record_name=f"promotion-{action.replace('_', '-')}",
            function_environment=environment,
        )
    return PROMOTE_HANDLER
