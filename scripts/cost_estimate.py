"""Idle monthly cost of a deployment, read from the synthesized templates.

"Idle" means deployed and receiving no traffic: what the account pays for
the platform to merely exist. Request-driven charges (serverless inference,
Lambda, CodeBuild minutes, CodePipeline action minutes, S3 requests) are zero
at idle and left out. Prices are on-demand list prices in us-east-1 (USD),
checked 2026-11; other regions differ by a few percent. Update the table
below when AWS changes them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["HOURS_PER_MONTH", "INSTANCE_HOURLY_USD", "CostLine", "idle_monthly_cost"]

HOURS_PER_MONTH = 730

# SageMaker real-time inference, per instance-hour.
INSTANCE_HOURLY_USD: Mapping[str, float] = {
    "ml.t2.medium": 0.056,
    "ml.t2.large": 0.111,
    "ml.m5.large": 0.115,
    "ml.m5.xlarge": 0.23,
    "ml.m5.2xlarge": 0.461,
    "ml.m5.4xlarge": 0.922,
    "ml.c5.large": 0.102,
    "ml.c5.xlarge": 0.204,
    "ml.c5.2xlarge": 0.408,
    "ml.m6i.large": 0.1152,
    "ml.m6i.xlarge": 0.2304,
    "ml.c6i.large": 0.102,
    "ml.c6i.xlarge": 0.204,
    "ml.g4dn.xlarge": 0.7364,
    "ml.g5.xlarge": 1.408,
}
KMS_KEY_MONTHLY_USD = 1.00
METRIC_ALARM_MONTHLY_USD = 0.10  # standard resolution, per alarm metric
COMPOSITE_ALARM_MONTHLY_USD = 0.50


@dataclass(frozen=True)
class CostLine:
    """One priced item: what, how many, monthly USD (None when the price is unknown)."""

    item: str
    quantity: int
    monthly_usd: float | None


def _resources(template: Mapping[str, Any], resource_type: str) -> Iterable[Mapping[str, Any]]:
    for resource in template.get("Resources", {}).values():
        if resource.get("Type") == resource_type:
            yield resource.get("Properties", {})


def idle_monthly_cost(templates: Mapping[str, Mapping[str, Any]]) -> list[CostLine]:
    """Price every resource with an idle cost in the given templates (name -> template)."""
    lines: list[CostLine] = []
    for name, template in templates.items():
        for config in _resources(template, "AWS::SageMaker::EndpointConfig"):
            for variant in config.get("ProductionVariants", []):
                if "ServerlessConfig" in variant:
                    lines.append(CostLine(f"{name}: serverless endpoint (pay per request)", 1, 0.0))
                    continue
                instance_type, count = variant.get("InstanceType"), int(variant.get("InitialInstanceCount", 1))
                hourly = INSTANCE_HOURLY_USD.get(str(instance_type))
                lines.append(
                    CostLine(
                        f"{name}: {count} x {instance_type} endpoint instance",
                        count,
                        None if hourly is None else round(hourly * count * HOURS_PER_MONTH, 2),
                    )
                )
        keys = sum(1 for _ in _resources(template, "AWS::KMS::Key"))
        if keys:
            lines.append(CostLine(f"{name}: KMS customer-managed key", keys, keys * KMS_KEY_MONTHLY_USD))
        # CloudWatch prices a metric-math alarm per metric it reads.
        metrics = sum(
            sum(1 for query in alarm.get("Metrics", []) if "MetricStat" in query) or 1
            for alarm in _resources(template, "AWS::CloudWatch::Alarm")
        )
        if metrics:
            lines.append(CostLine(f"{name}: CloudWatch alarm metrics", metrics, round(metrics * METRIC_ALARM_MONTHLY_USD, 2)))
        composite = sum(1 for _ in _resources(template, "AWS::CloudWatch::CompositeAlarm"))
        if composite:
            lines.append(
                CostLine(f"{name}: CloudWatch composite alarms", composite, round(composite * COMPOSITE_ALARM_MONTHLY_USD, 2))
            )
    return lines
