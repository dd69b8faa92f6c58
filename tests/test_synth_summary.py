"""`make synth`'s summary and the idle cost estimate, read from the session's assembly."""

from __future__ import annotations

from scripts.cost_estimate import idle_monthly_cost
from scripts.synth_summary import load_templates, summarize
from tests.synthesis_fixtures import SynthesizedApp


def test_summary_lists_stacks_stages_in_order_gates_and_floors(synthesized: SynthesizedApp) -> None:
    text = summarize(synthesized.outdir)
    for stack in ("ml-cicd-pipeline", "ml-cicd-staging-endpoint", "ml-cicd-production-endpoint"):
        assert stack in text
    stages = ["Source", "Build", "Train", "Evaluate", "DeployStaging", "TestStaging", "Approve", "DeployProd", "Promote"]
    positions = [text.index(f". {stage}") for stage in stages]
    assert positions == sorted(positions)
    assert "CodeBuild (buildspecs/ci.yml)" in text and "Lambda (lambdas/evaluation_gate/)" in text
    assert "metrics.roc_auc.min 0.9" in text
    assert "manual approval required" in text


def test_staging_costs_nothing_while_idle_at_defaults(synthesized: SynthesizedApp) -> None:
    lines = idle_monthly_cost(load_templates(synthesized.outdir))
    staging = [line for line in lines if line.item.startswith("ml-cicd-staging-endpoint")]
    assert staging and all(line.monthly_usd == 0 for line in staging)
    (production,) = [line for line in lines if "endpoint instance" in line.item]
    assert production.quantity == 2 and production.monthly_usd == round(2 * 0.115 * 730, 2)


def test_an_unknown_instance_price_is_reported_not_guessed() -> None:
    template = {
        "Resources": {
            "Config": {
                "Type": "AWS::SageMaker::EndpointConfig",
                "Properties": {"ProductionVariants": [{"InstanceType": "ml.p5.48xlarge", "InitialInstanceCount": 1}]},
            }
        }
    }
    (line,) = idle_monthly_cost({"x": template})
    assert line.monthly_usd is None
