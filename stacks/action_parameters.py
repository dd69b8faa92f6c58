"""The `UserParameters` of the pipeline's Lambda invoke actions: one source for the stack and the rehearsal.

`stacks/components/release_pipeline.py` writes these into the synthesized
pipeline; `make rehearse` invokes the same functions with the same strings,
after resolving the CodePipeline variables (`#{Namespace.Variable}`) to
realistic values, so local and cloud runs take the same paths. Pure Python:
importing this module does not import the CDK.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

__all__ = ["LAMBDA_ACTIONS", "UnresolvedVariable", "resolve_variables", "user_parameters_string"]

# Action name -> its UserParameters (None: the action has none).
LAMBDA_ACTIONS: Mapping[str, Mapping[str, str] | None] = {
    "EvaluationGate": None,
    "StagingGate": {"endpoint_name": "#{DeployStaging.EndpointName}"},
    # Before each deploy: the TrainOutput files and the model are what the evaluation gate judged.
    "CheckCustody": {"action": "verify_custody", "custody_record": "#{EvaluationGate.record_uri}"},
    "VerifyProduction": {
        "action": "verify_production",
        "endpoint_name": "#{DeployProd.EndpointName}",
        "endpoint_config_name": "#{DeployProd.EndpointConfigName}",
        "custody_record": "#{EvaluationGate.record_uri}",
    },
    "Promote": {
        "action": "promote",
        "endpoint_name": "#{DeployProd.EndpointName}",
        "pipeline_execution_id": "#{codepipeline.PipelineExecutionId}",
    },
}
_VARIABLE = re.compile(r"#\{([A-Za-z0-9@_-]+\.[A-Za-z0-9@_-]+)\}")


class UnresolvedVariable(KeyError):
    """A `#{Namespace.Variable}` that no value was given for."""


def user_parameters_string(action: str) -> str | None:
    """The action's UserParameters exactly as the pipeline carries them (JSON), or None."""
    parameters = LAMBDA_ACTIONS[action]
    return None if parameters is None else json.dumps(dict(parameters))


def resolve_variables(text: str, variables: Mapping[str, str]) -> str:
    """Replace every `#{Namespace.Variable}` as CodePipeline does before invoking the action."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in variables:
            raise UnresolvedVariable(f"no value for the CodePipeline variable #{{{name}}}")
        # The value lands inside a JSON string: escape it as JSON would.
        return json.dumps(variables[name])[1:-1]

    return _VARIABLE.sub(value, text)
