"""`make rehearse` invokes every Lambda action with the UserParameters the synthesized pipeline gives it."""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest

from rehearsal.cli import main
from rehearsal_fixtures import first_release, quick_rehearsal
from stacks.action_parameters import LAMBDA_ACTIONS, UnresolvedVariable, resolve_variables
from tests.synthesis_fixtures import SynthesizedApp

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def _lambda_actions(template: dict[str, Any]) -> dict[str, str | None]:
    """Action name -> its UserParameters, as synthesized."""
    (pipeline,) = [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::CodePipeline::Pipeline"]
    return {
        action["Name"]: action["Configuration"].get("UserParameters")
        for stage in pipeline["Stages"]
        for action in stage["Actions"]
        if action["ActionTypeId"]["Provider"] == "Lambda"
    }


@pytest.fixture(scope="module")
def invoked(pytestconfig: pytest.Config) -> list[dict[str, Any]]:
    """Every job event the rehearsal sent, in order (one full release: the run's shared first release)."""
    release = first_release(pytestconfig)
    assert release.exit_code == 0, (release.out_dir / "report.md").read_text()[:2000]
    return release.job_events


def test_the_stack_and_the_rehearsal_share_one_source(synthesized: SynthesizedApp) -> None:
    synthesized_actions = _lambda_actions(synthesized.pipeline)
    assert set(synthesized_actions) == set(LAMBDA_ACTIONS)
    for name, parameters in LAMBDA_ACTIONS.items():
        assert synthesized_actions[name] == (None if parameters is None else json.dumps(dict(parameters)))


def test_each_action_gets_the_synthesized_user_parameters_with_realistic_variables(
    synthesized: SynthesizedApp, invoked: list[dict[str, Any]]
) -> None:
    sent = [event["CodePipeline.job"]["data"]["actionConfiguration"]["configuration"].get("UserParameters") for event in invoked]
    synthesized_actions = _lambda_actions(synthesized.pipeline)
    order = ["EvaluationGate", "StagingGate", "VerifyProduction", "Promote"]
    assert len(sent) == len(order)  # each action once (no continuation needed offline)
    variables: dict[str, str] = {}
    for action, raw in zip(order, sent, strict=True):
        template = synthesized_actions[action]
        if template is None:
            assert raw is None
            continue
        # Same keys and literal values; every #{...} replaced by a concrete value.
        expected, got = json.loads(template), json.loads(raw)
        assert got.keys() == expected.keys() and "#{" not in raw
        for key, value in expected.items():
            if value.startswith("#{"):
                variables[value[2:-1]] = got[key]
            else:
                assert got[key] == value
        assert resolve_variables(template, variables) == raw
    assert UUID.match(variables["codepipeline.PipelineExecutionId"])
    assert variables["DeployStaging.EndpointName"] == "rehearsal-staging-endpoint"  # <project>-staging-endpoint
    assert variables["DeployProd.EndpointName"] == "rehearsal-production-endpoint"
    assert re.fullmatch(r"EndpointConfig-[A-Za-z0-9]{12}", variables["DeployProd.EndpointConfigName"])


def test_an_unknown_variable_is_refused() -> None:
    with pytest.raises(UnresolvedVariable, match="DeployProd.EndpointName"):
        resolve_variables('{"endpoint_name": "#{DeployProd.EndpointName}"}', {})


def test_a_value_is_escaped_for_the_json_it_lands_in() -> None:
    assert json.loads(resolve_variables('{"a": "#{X.y}"}', {"X.y": 'quote " and \\'})) == {"a": 'quote " and \\'}


def test_a_request_aws_would_refuse_blocks_the_rehearsal(tmp_path: Path) -> None:
    """Without the metadata sanitiser, promotion's `promoted_by` (parentheses) is what AWS refuses: the
    rehearsal, which now passes the pipeline's execution id, says so instead of releasing."""
    import promote.champion_promotion as champion_promotion

    out = tmp_path / "out"
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(io.StringIO()):
        patch.setattr(champion_promotion, "customer_metadata", dict)
        code = main(quick_rehearsal(out))
    report = (out / "report.md").read_text(encoding="utf-8")
    assert code != 0
    assert "UpdateModelPackage: CustomerMetadataProperties['promoted_by']" in report
    assert "pattern ^([\\p{L}\\p{Z}\\p{N}_.:\\/=+\\-@]*)$" in report
