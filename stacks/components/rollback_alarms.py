"""The production endpoint's rollback alarms: defined once, armed by SageMaker's deployment guardrails.

They watch what means *the model is failing*, not what a caller got wrong:

- `Invocation5XXErrors` as a rate of `Invocations` (metric math), only once a
  minute carries at least `MIN_INVOCATIONS_PER_MINUTE` requests, above
  `MAX_5XX_ERROR_RATE_PERCENT` for `ERROR_RATE_MINUTES` consecutive minutes.
  `InvocationModelErrors` is deliberately not used: SageMaker counts in it every
  answer of the model that is not 2XX, client errors (4XX, a malformed request)
  included, so a threshold of 0 rolled a canary back on one bad request.
- `ModelLatency` p99 above the configured milliseconds for `LATENCY_MINUTES`
  consecutive minutes. SageMaker reports `ModelLatency` in microseconds.

All are metric alarms (no composite alarm): CloudWatch's DescribeAlarms
returns composite alarms only to callers allowed it on `*`, and SageMaker
("Ensure that your IAM execution role has permission to perform the
cloudwatch:DescribeAlarms action on the auto-rollback alarms you specify")
reads these with roles scoped to the stack's own alarms.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from constructs import Construct

from stacks.components.nag_acknowledgements import acknowledge, arn_as_nag_prints

__all__ = [
    "ERROR_RATE_MINUTES",
    "LATENCY_MINUTES",
    "MAX_5XX_ERROR_RATE_PERCENT",
    "MIN_INVOCATIONS_PER_MINUTE",
    "PERIOD_SECONDS",
    "RollbackAlarms",
    "alarm_arn_as_nag_prints",
    "alarm_arn_pattern",
    "grant_describe_alarms",
]

MAX_5XX_ERROR_RATE_PERCENT = 1.0
MIN_INVOCATIONS_PER_MINUTE = 20
ERROR_RATE_MINUTES = 2
LATENCY_MINUTES = 3
# Every datapoint the alarms read is one minute: the `*_MINUTES` above count datapoints.
PERIOD_SECONDS = 60


def alarm_arn_pattern(scope: Construct, stack_name: str) -> str:
    """The ARNs of an endpoint stack's alarms: CloudFormation names them `<stack name>-<logical id>-<suffix>`."""
    return cdk.Stack.of(scope).format_arn(
        service="cloudwatch", resource="alarm", resource_name=f"{stack_name}-*", arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME
    )


def alarm_arn_as_nag_prints(scope: Construct, stack_name: str) -> str:
    """`alarm_arn_pattern` as cdk-nag prints it in a finding id (for an acknowledgement)."""
    return arn_as_nag_prints(scope).format(service="cloudwatch", resource=f"alarm:{stack_name}-*")


def grant_describe_alarms(role: iam.IRole, scope: Construct, stack_name: str) -> None:
    """Lets `role` read the stack's rollback alarms, as SageMaker's auto-rollback requires (and acknowledges it)."""
    role.add_to_principal_policy(
        iam.PolicyStatement(
            sid="ReadRollbackAlarms",
            actions=["cloudwatch:DescribeAlarms"],
            resources=[alarm_arn_pattern(scope, stack_name)],
        )
    )
    acknowledge(
        role,
        resources={
            alarm_arn_as_nag_prints(
                scope, stack_name
            ): "SageMaker's auto-rollback reads the production stack's rollback alarms; CloudFormation prefixes "
            "their names with the stack name."
        },
    )


class RollbackAlarms(Construct):
    """The alarms that roll a production deployment back, on one endpoint variant."""

    def __init__(
        self, scope: Construct, construct_id: str, *, endpoint_name: str, variant_name: str, p99_latency_alarm_ms: int
    ) -> None:
        super().__init__(scope, construct_id)
        self._dimensions = [
            cloudwatch.CfnAlarm.DimensionProperty(name="EndpointName", value=endpoint_name),
            cloudwatch.CfnAlarm.DimensionProperty(name="VariantName", value=variant_name),
        ]
        self.error_rate = self._error_rate_alarm()
        self.latency = cloudwatch.CfnAlarm(
            self,
            "ModelLatencyP99",
            alarm_description=f"Rolls back a deployment when p99 model latency stays above {p99_latency_alarm_ms} ms "
            f"for {LATENCY_MINUTES} minutes.",
            namespace="AWS/SageMaker",
            metric_name="ModelLatency",
            dimensions=self._dimensions,
            extended_statistic="p99",
            period=PERIOD_SECONDS,
            evaluation_periods=LATENCY_MINUTES,
            datapoints_to_alarm=LATENCY_MINUTES,
            threshold=p99_latency_alarm_ms * 1000,  # ModelLatency is in microseconds
            comparison_operator="GreaterThanThreshold",
            treat_missing_data="notBreaching",
        )
        self.alarms = [self.error_rate, self.latency]

    def _metric(self, query_id: str, metric_name: str) -> cloudwatch.CfnAlarm.MetricDataQueryProperty:
        return cloudwatch.CfnAlarm.MetricDataQueryProperty(
            id=query_id,
            return_data=False,
            metric_stat=cloudwatch.CfnAlarm.MetricStatProperty(
                metric=cloudwatch.CfnAlarm.MetricProperty(
                    namespace="AWS/SageMaker",
                    metric_name=metric_name,
                    dimensions=self._dimensions,
                ),
                period=PERIOD_SECONDS,
                stat="Sum",
            ),
        )

    def _error_rate_alarm(self) -> cloudwatch.CfnAlarm:
        expression = f"IF(invocations >= {MIN_INVOCATIONS_PER_MINUTE}, 100 * errors / invocations, 0)"
        return cloudwatch.CfnAlarm(
            self,
            "Invocation5xxRate",
            alarm_description=(
                f"Rolls back a deployment when more than {MAX_5XX_ERROR_RATE_PERCENT:g} % of requests "
                f"get a 5XX answer for {ERROR_RATE_MINUTES} minutes (minutes with fewer than "
                f"{MIN_INVOCATIONS_PER_MINUTE} requests count as healthy)."
            ),
            metrics=[
                self._metric("errors", "Invocation5XXErrors"),
                self._metric("invocations", "Invocations"),
                cloudwatch.CfnAlarm.MetricDataQueryProperty(
                    id="rate",
                    expression=expression,
                    label="5XX error rate (%)",
                    return_data=True,
                ),
            ],
            evaluation_periods=ERROR_RATE_MINUTES,
            datapoints_to_alarm=ERROR_RATE_MINUTES,
            threshold=MAX_5XX_ERROR_RATE_PERCENT,
            comparison_operator="GreaterThanThreshold",
            treat_missing_data="notBreaching",
        )
