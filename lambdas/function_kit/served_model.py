"""Which model package a SageMaker endpoint really serves, read from its live configuration.

The staging gate and the production verification both need the same chain:
`DescribeEndpoint` (status, current EndpointConfig, deployment state) →
`DescribeEndpointConfig` (each production variant's model) →
`DescribeModel` (each container's `ModelPackageName`). `read_served_model`
does the calls; `package_mismatch` is the pure comparison. Any failed call
raises `ServedModelError` naming the call and the resource.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from contracts.aws_errors import describe_aws_error

__all__ = [
    "ServedModel",
    "ServedModelError",
    "ServedVariant",
    "package_mismatch",
    "read_served_model",
]


class ServedModelError(RuntimeError):
    """The endpoint's live configuration could not be read."""


@dataclass(frozen=True)
class ServedVariant:
    """A production variant, its model and the model packages its containers run."""

    variant_name: str
    model_name: str
    model_package_arns: tuple[str, ...]


@dataclass(frozen=True)
class ServedModel:
    """The live state of an endpoint, as far as a release decision needs it."""

    endpoint_name: str
    status: str
    endpoint_config_name: str
    variants: tuple[ServedVariant, ...]
    failure_reason: str | None = None
    deployment_in_progress: bool = False
    variant_statuses: tuple[str, ...] = ()
    last_deployment_config: Mapping[str, Any] | None = field(default=None, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON shape for decision records."""
        return {
            "endpoint_name": self.endpoint_name,
            "status": self.status,
            "endpoint_config_name": self.endpoint_config_name,
            "failure_reason": self.failure_reason,
            "deployment_in_progress": self.deployment_in_progress,
            "variant_statuses": list(self.variant_statuses),
            "variants": [
                {
                    "variant_name": v.variant_name,
                    "model_name": v.model_name,
                    "model_package_arns": list(v.model_package_arns),
                }
                for v in self.variants
            ],
            "last_deployment_config": self.last_deployment_config,
        }


def package_mismatch(served: ServedModel, expected_package_arn: str) -> str | None:
    """`None` when every container of every variant runs `expected_package_arn`, else why not."""
    where = f"endpoint {served.endpoint_name} (config {served.endpoint_config_name})"
    if not served.variants:
        return f"{where} has no production variant"
    for variant in served.variants:
        if not variant.model_package_arns:
            return (
                f"{where} variant {variant.variant_name} runs model {variant.model_name}, which is not built from "
                f"a model package; expected {expected_package_arn}"
            )
        stale = [arn for arn in variant.model_package_arns if arn != expected_package_arn]
        if stale:
            return (
                f"{where} variant {variant.variant_name} serves model package {', '.join(stale)}, "
                f"not the release's {expected_package_arn}"
            )
    return None


def _call(what: str, operation: Any, **kwargs: Any) -> Mapping[str, Any]:
    try:
        return operation(**kwargs)
    except Exception as error:  # noqa: BLE001 - any failure means the live state is unknown
        raise ServedModelError(f"{what} failed: {describe_aws_error(error)}") from None


def _container_packages(model: Mapping[str, Any]) -> tuple[str, ...]:
    containers = [model.get("PrimaryContainer"), *(model.get("Containers") or [])]
    return tuple(c["ModelPackageName"] for c in containers if isinstance(c, Mapping) and c.get("ModelPackageName"))


def read_served_model(sagemaker_client: Any, endpoint_name: str) -> ServedModel:
    """Describe the endpoint, its current config and each variant's model."""
    endpoint = _call(
        f"DescribeEndpoint {endpoint_name}",
        sagemaker_client.describe_endpoint,
        EndpointName=endpoint_name,
    )
    config_name = str(endpoint.get("EndpointConfigName") or "")
    if not config_name:
        raise ServedModelError(f"DescribeEndpoint {endpoint_name} returned no EndpointConfigName")
    config = _call(
        f"DescribeEndpointConfig {config_name}",
        sagemaker_client.describe_endpoint_config,
        EndpointConfigName=config_name,
    )
    variants = []
    for variant in config.get("ProductionVariants") or []:
        model_name = str(variant.get("ModelName") or "")
        if not model_name:
            raise ServedModelError(f"endpoint config {config_name} variant {variant.get('VariantName')} names no model")
        model = _call(
            f"DescribeModel {model_name}",
            sagemaker_client.describe_model,
            ModelName=model_name,
        )
        variants.append(
            ServedVariant(
                variant_name=str(variant.get("VariantName") or ""),
                model_name=model_name,
                model_package_arns=_container_packages(model),
            )
        )
    variant_statuses = tuple(
        f"{variant.get('VariantName')}: {status.get('Status')}"
        for variant in endpoint.get("ProductionVariants") or []
        for status in variant.get("VariantStatus") or []
    )
    return ServedModel(
        endpoint_name=endpoint_name,
        status=str(endpoint.get("EndpointStatus") or "unknown"),
        endpoint_config_name=config_name,
        variants=tuple(variants),
        failure_reason=endpoint.get("FailureReason") or None,
        deployment_in_progress=bool(endpoint.get("PendingDeploymentSummary")),
        variant_statuses=variant_statuses,
        last_deployment_config=endpoint.get("LastDeploymentConfig"),
    )
