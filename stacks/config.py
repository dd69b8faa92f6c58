"""The application's configuration: one namespaced `cdk.json` context key, validated.

`app.py` is the only caller. It hands `load_config` the raw context; every
value is checked here, once, and an invalid one raises `ConfigError` with a
single line naming the key and what is allowed. Stacks receive the frozen
dataclasses below and never read context or the environment themselves.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contracts.platform_floors import floors_document
from contracts.release_policy import PolicyError
from release_tools.instance_types import ENUM_SHAPES, TABLE_PATH, instance_types
from release_tools.stage_budget import MAX_TRAINING_TIMEOUT_MINUTES, stage_timeout_minutes
from stacks.deployment_window import WindowError, validate_cron, validate_time_zone
from stacks.service_limits import (
    CODEBUILD_DESCRIPTION_MAX,
    KMS_KEY_ARN_LONGEST,
    LAMBDA_ENVIRONMENT_MAX_BYTES,
    PULL_REQUEST_CHECKS_BUILDSPEC,
    S3_BUCKET_NAME_MAX,
    codebuild_description,
    floors_gate_environment,
    host_pull_request_checks_summary,
    lambda_environment_size,
    pull_request_checks_summary,
)

__all__ = [
    "CONTEXT_KEY",
    "AppConfig",
    "LOG_RETENTION_DAYS",
    "CanaryConfig",
    "ConfigError",
    "DeploymentTarget",
    "ProductionConfig",
    "RetainedReleaseStore",
    "SourceConfig",
    "StagingConfig",
    "git_branch_problem",
    "known_regions",
    "largest_gate_environment",
    "load_config",
    "pull_request_checks_description",
]

CONTEXT_KEY = "ml-cicd"

_INSTANCE_TYPE = re.compile(r"^ml\.[a-z0-9]+\.[0-9]*x?large$|^ml\.[a-z0-9]+\.(medium|small|micro)$")
_NAME = re.compile(r"^[a-z][a-z0-9-]{1,30}[a-z0-9]$")
_REPOSITORY_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
_BRANCH = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,99}$")
_EMAIL = re.compile(r"(?=.{6,254}\Z)[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+\.[^@\s\x00-\x1f\x7f]+")
_ACCOUNT = re.compile(r"^[0-9]{12}$")
# A KMS key ARN (a key id or a multi-Region key id; aliases do not authorise kms:Decrypt in IAM policies).
_KMS_KEY_ARN = re.compile(
    r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$"
)


class ConfigError(ValueError):
    """A configuration value that the application refuses, with a one-line reason."""


@dataclass(frozen=True)
class DeploymentTarget:
    """Where a stack is deployed; both `None` means environment-agnostic."""

    account: str | None = None
    region: str | None = None


@dataclass(frozen=True)
class StagingConfig:
    """The staging endpoint: serverless (idle cost zero) or instance-backed."""

    mode: str = "serverless"
    serverless_memory_mb: int = 2048
    serverless_max_concurrency: int = 5
    instance_type: str = "ml.m5.large"
    instance_count: int = 1
    # The staging gate's probe (docs/staging-gate.md): warm-up bounds and the measured calls' read timeout.
    warmup_max_attempts: int = 5
    warmup_max_seconds: int = 180
    read_timeout_seconds: int = 5

    # What the gate may spend measuring, beyond the warm-up (the probe stops itself in time to answer).
    MEASUREMENT_SECONDS = 600

    @property
    def probe_json(self) -> str:
        """`STAGING_PROBE` of the staging gate (read by `lambdas/staging_gate/warmup.py`)."""
        return json.dumps(
            {
                "warmup_max_attempts": self.warmup_max_attempts,
                "warmup_max_seconds": self.warmup_max_seconds,
                "read_timeout_seconds": self.read_timeout_seconds,
            },
            sort_keys=True,
        )

    @property
    def gate_timeout_seconds(self) -> int:
        """The staging gate's Lambda timeout: the whole warm-up, then the measurement (at most 900 s)."""
        return self.warmup_max_seconds + self.MEASUREMENT_SECONDS


# SageMaker's BlueGreenUpdatePolicy limits (botocore's sagemaker service model): WaitIntervalInSeconds and
# TerminationWaitInSeconds 0-3600, MaximumExecutionTimeoutInSeconds 600-28800.
MAX_WAIT_SECONDS = 3600
MAX_DEPLOYMENT_TIMEOUT_SECONDS = 28_800
# Time allowed for SageMaker to provision the new (green) fleet before traffic shifts: added to the waits when
# the deployment timeout is derived from them, and the least a configured timeout must leave for it.
PROVISIONING_ALLOWANCE_SECONDS = 1_800


@dataclass(frozen=True)
class CanaryConfig:
    """How production traffic shifts to a new model, and how long the old fleet is kept (the bake)."""

    traffic_routing: str = "canary"
    size_percent: int = 10
    wait_minutes: int = 10
    linear_step_percent: int = 25
    bake_minutes: int = 15
    deployment_timeout_minutes: int | None = None  # None: the waits plus PROVISIONING_ALLOWANCE_SECONDS

    @property
    def traffic_steps(self) -> int:
        """Traffic shifts in one deployment: canary then the rest, or 100 % in linear steps."""
        return 2 if self.traffic_routing == "canary" else -(-100 // self.linear_step_percent)

    @property
    def waits_seconds(self) -> int:
        """Every configured wait of one deployment: a wait after each traffic step, then the bake."""
        return self.traffic_steps * self.wait_minutes * 60 + self.bake_minutes * 60

    @property
    def deployment_timeout_seconds(self) -> int:
        """SageMaker's MaximumExecutionTimeoutInSeconds for the production deployment."""
        if self.deployment_timeout_minutes is not None:
            return self.deployment_timeout_minutes * 60
        return max(600, self.waits_seconds + PROVISIONING_ALLOWANCE_SECONDS)


@dataclass(frozen=True)
class ProductionConfig:
    """The production endpoint: instances, autoscaling, data capture."""

    instance_type: str = "ml.m5.large"
    instance_count: int = 2
    min_capacity: int = 2
    max_capacity: int = 4
    target_invocations_per_instance: int = 300
    data_capture_sampling_percent: int = 20
    p99_latency_alarm_ms: int = 500


# CodeConnections providers (botocore's `codeconnections` ProviderType enum, less AzureDevOps, which
# CodePipeline's connection source action does not list) and the CodeBuild source type of each.
CONNECTION_PROVIDERS = {
    "GitHub": "GITHUB",
    "GitHubEnterpriseServer": "GITHUB_ENTERPRISE",
    "GitLab": "GITLAB",
    "GitLabSelfManaged": "GITLAB_SELF_MANAGED",
    "Bitbucket": "BITBUCKET",
}
SELF_MANAGED_PROVIDERS = ("GitHubEnterpriseServer", "GitLabSelfManaged")
_CONNECTION_ARN = re.compile(
    r"\Aarn:aws(-[a-z]+)*:(codestar-connections|codeconnections):[a-z]{2}(-gov)?-[a-z]+-[0-9]:[0-9]{12}:"
    r"connection/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z"
)
_HOST_ARN = re.compile(
    r"\Aarn:aws(-[a-z]+)*:(codestar-connections|codeconnections):[a-z]{2}(-gov)?-[a-z]+-[0-9]:[0-9]{12}:"
    r"host/[A-Za-z0-9_.-]+/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z"
)
# owner/name; GitLab groups may nest (group/subgroup/name).
_FULL_REPOSITORY_ID = re.compile(r"\A[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+){1,4}\Z")
_HOST_URL = re.compile(r"\Ahttps://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~-]+)*\Z")


@dataclass(frozen=True)
class SourceConfig:
    """Where releases come from: the CodeCommit repository (default) or a repository behind a CodeConnections connection."""

    repository: str | None = None
    connection_arn: str | None = None
    provider_type: str | None = None
    host_arn: str | None = None
    host_url: str | None = None
    # A connection the stack creates starts PENDING: the host's webhook (the pull-request checks) is added once a
    # person has completed it and says so here (README "Releasing from GitHub, GitLab or Bitbucket").
    connection_completed: bool = False

    @property
    def uses_connection(self) -> bool:
        return self.repository is not None

    @property
    def creates_connection(self) -> bool:
        return self.uses_connection and self.connection_arn is None

    @property
    def awaits_connection(self) -> bool:
        """The stack creates the connection and nobody has said it is completed yet: no webhook can be made."""
        return self.creates_connection and not self.connection_completed

    @property
    def owner(self) -> str:
        return (self.repository or "").rsplit("/", 1)[0]

    @property
    def name(self) -> str:
        return (self.repository or "").rsplit("/", 1)[-1]


@dataclass(frozen=True, kw_only=True)
class RetainedReleaseStore:
    """A bucket an earlier deployment of this project kept (`make destroy`), and the KMS key its objects use.

    After a redeploy the adopted model registry's champion points into it (README "Operating ml-cicd").
    """

    bucket: str
    kms_key_arn: str


# S3 bucket naming rules: 3-63 characters, lowercase letters, digits, dots and hyphens, a letter or digit at each end.
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


@dataclass(frozen=True)
class AppConfig:
    """Everything the stacks need, validated."""

    project_name: str = "ml-cicd"
    repository_name: str = "ml-model"
    release_branch: str = "main"
    training_instance_type: str = "ml.m5.large"
    evaluation_instance_type: str = "ml.m5.large"
    use_spot_training: bool = False
    training_timeout_minutes: int = 60
    staging: StagingConfig = field(default_factory=StagingConfig)
    production: ProductionConfig = field(default_factory=ProductionConfig)
    require_manual_approval: bool = True
    platform_floors: Mapping[str, Any] = field(default_factory=dict)
    notification_email: str | None = None
    canary: CanaryConfig = field(default_factory=CanaryConfig)
    deployment_window: str | None = None
    deployment_window_time_zone: str = "UTC"
    pull_request_approvals: int = 1
    artifact_retention_days: int = 90
    log_retention_days: int = 90
    pipeline_env: DeploymentTarget = field(default_factory=DeploymentTarget)
    staging_env: DeploymentTarget = field(default_factory=DeploymentTarget)
    production_env: DeploymentTarget = field(default_factory=DeploymentTarget)
    source: SourceConfig = field(default_factory=SourceConfig)
    image_retention_count: int = 20
    # The customer-managed key the account was bootstrapped with (`cdk bootstrap --bootstrap-kms-key-id`), if any.
    bootstrap_kms_key_arn: str | None = None
    # Buckets a torn-down deployment kept, readable by the new SageMaker roles (README "Operating ml-cicd").
    retained_release_stores: tuple[RetainedReleaseStore, ...] = ()

    @property
    def platform_floors_json(self) -> str:
        """The floors as the compact JSON handed to functions and builds."""
        return json.dumps(self.platform_floors, sort_keys=True, separators=(",", ":"))


# ---------------------------------------------------------------------------
# Readers: each takes the raw value and its dotted key, returns a clean value.
# ---------------------------------------------------------------------------


def _fail(key: str, message: str) -> ConfigError:
    return ConfigError(f"invalid configuration {CONTEXT_KEY}.{_printable_key(key)}: {message}")


def _bool(raw: Any, key: str) -> bool:
    if isinstance(raw, bool):
        return raw
    raise _fail(key, f"{_quote(raw)} is not a boolean; allowed: true or false")


def _int(raw: Any, key: str, low: int, high: int) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise _fail(key, f"{_quote(raw)} is not an integer; allowed: an integer from {low} to {high}")
    if not low <= raw <= high:
        raise _fail(key, f"{_quote(raw)} is out of range; allowed: an integer from {low} to {high}")
    return raw


def _str(raw: Any, key: str, pattern: re.Pattern[str], allowed: str) -> str:
    if not isinstance(raw, str) or not pattern.fullmatch(raw):
        raise _fail(key, f"{_quote(raw)} is not allowed; allowed: {allowed}")
    return raw


def _choice(raw: Any, key: str, choices: tuple[str, ...]) -> str:
    if raw not in choices:
        raise _fail(key, f"{_quote(raw)} is not allowed; allowed: {', '.join(choices)}")
    return str(raw)


def _instance_type(raw: Any, key: str) -> str:
    return _str(raw, key, _INSTANCE_TYPE, "a SageMaker instance type such as ml.m5.large (with the ml. prefix)")


def _optional_str(raw: Any, key: str, pattern: re.Pattern[str], allowed: str) -> str | None:
    return None if raw is None else _str(raw, key, pattern, allowed)


def _section(raw: Any, key: str, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise _fail(key, f"{_quote(raw)} is not an object; allowed keys: {', '.join(sorted(allowed))}")
    unknown = sorted(map(str, set(raw) - allowed))
    if unknown:
        name = f"{key}.{unknown[0]}" if key else unknown[0]
        raise _fail(name, f"unknown key; allowed keys: {', '.join(sorted(allowed))}")
    return dict(raw)


def _target(raw: Any, key: str) -> DeploymentTarget:
    values = _section(raw, key, {"account", "region"})
    return DeploymentTarget(
        account=_account(values.get("account"), f"{key}.account"),
        region=_region(values.get("region"), f"{key}.region"),
    )


def _floors(raw: Any, key: str) -> dict[str, Any]:
    """Platform floors: a release policy (contract v1), checked by the functions' own parser (`contracts`).

    What synthesizes is exactly what the gates accept: one parser, one verdict (docs/contracts.md).
    """
    try:
        return floors_document(raw, origin=key)
    except PolicyError as error:
        raise _fail(
            ".".join((key, *error.path)), f"{error.cause}; allowed: what release-policy.json allows (docs/contracts.md)"
        ) from None


_TOP_LEVEL = {
    "project_name",
    "repository_name",
    "release_branch",
    "training_instance_type",
    "evaluation_instance_type",
    "use_spot_training",
    "training_timeout_minutes",
    "staging",
    "production",
    "require_manual_approval",
    "platform_floors",
    "notification_email",
    "canary",
    "deployment_window",
    "deployment_window_time_zone",
    "pull_request_approvals",
    "artifact_retention_days",
    "log_retention_days",
    "environments",
    "source",
    "image_retention_count",
    "bootstrap_kms_key_arn",
    "retained_release_stores",
}


def _apply_overrides(values: dict[str, Any], context: Mapping[str, Any]) -> dict[str, Any]:
    """Apply `-c ml-cicd.a.b=value` overrides; values are parsed as JSON when they parse."""
    prefix = CONTEXT_KEY + "."
    for dotted in sorted(k for k in context if k.startswith(prefix)):
        raw = context[dotted]
        if isinstance(raw, str):
            try:
                raw = json.loads(raw)
            except (ValueError, RecursionError):  # not JSON, too many digits, nested too deeply: a plain string
                pass
        path = dotted[len(prefix) :].split(".")
        node = values
        for part in path[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise _fail(".".join(path), f"cannot override inside {_quote(part)}, which is not an object")
            node = child
        node[path[-1]] = raw
    return values


def _copy(value: Any) -> Any:
    return {k: _copy(v) for k, v in value.items()} if isinstance(value, Mapping) else value


def _staging_config(values: Mapping[str, Any]) -> StagingConfig:
    """`staging`: the staging endpoint and the staging gate's probe."""
    staging_raw = _section(
        values.get("staging", {}),
        "staging",
        {
            "mode",
            "serverless_memory_mb",
            "serverless_max_concurrency",
            "instance_type",
            "instance_count",
            "warmup_max_attempts",
            "warmup_max_seconds",
            "read_timeout_seconds",
        },
    )
    sd = StagingConfig()
    return StagingConfig(
        mode=_choice(staging_raw.get("mode", sd.mode), "staging.mode", ("serverless", "instances")),
        serverless_memory_mb=_serverless_memory(staging_raw.get("serverless_memory_mb", sd.serverless_memory_mb)),
        serverless_max_concurrency=_int(
            staging_raw.get("serverless_max_concurrency", sd.serverless_max_concurrency),
            "staging.serverless_max_concurrency",
            1,
            200,
        ),
        instance_type=_sagemaker_instance_type(
            staging_raw.get("instance_type", sd.instance_type), "staging.instance_type", "hosting"
        ),
        instance_count=_int(staging_raw.get("instance_count", sd.instance_count), "staging.instance_count", 1, 10),
        **_staging_probe(staging_raw, sd),
    )


def _production_config(values: Mapping[str, Any]) -> ProductionConfig:
    """`production`: the production endpoint, its autoscaling range and alarm."""
    prod_raw = _section(values.get("production", {}), "production", set(ProductionConfig.__dataclass_fields__))
    pd = ProductionConfig()
    production = ProductionConfig(
        instance_type=_sagemaker_instance_type(
            prod_raw.get("instance_type", pd.instance_type), "production.instance_type", "hosting"
        ),
        instance_count=_int(prod_raw.get("instance_count", pd.instance_count), "production.instance_count", 1, 100),
        min_capacity=_int(prod_raw.get("min_capacity", pd.min_capacity), "production.min_capacity", 1, 100),
        max_capacity=_int(prod_raw.get("max_capacity", pd.max_capacity), "production.max_capacity", 1, 100),
        target_invocations_per_instance=_int(
            prod_raw.get("target_invocations_per_instance", pd.target_invocations_per_instance),
            "production.target_invocations_per_instance",
            1,
            100_000,
        ),
        data_capture_sampling_percent=_int(
            prod_raw.get("data_capture_sampling_percent", pd.data_capture_sampling_percent),
            "production.data_capture_sampling_percent",
            0,
            100,
        ),
        p99_latency_alarm_ms=_int(
            prod_raw.get("p99_latency_alarm_ms", pd.p99_latency_alarm_ms), "production.p99_latency_alarm_ms", 1, 60_000
        ),
    )
    if production.min_capacity > production.max_capacity:
        raise _fail("production.min_capacity", "is greater than production.max_capacity; allowed: min_capacity <= max_capacity")
    if not production.min_capacity <= production.instance_count <= production.max_capacity:
        raise _fail(
            "production.instance_count", "is outside [min_capacity, max_capacity]; allowed: a count within the autoscaling range"
        )

    return production


def _canary_config(values: Mapping[str, Any]) -> CanaryConfig:
    """`canary`: how production traffic shifts to a new model."""
    canary_raw = _section(values.get("canary", {}), "canary", set(CanaryConfig.__dataclass_fields__))
    cd = CanaryConfig()
    return CanaryConfig(
        traffic_routing=_choice(
            canary_raw.get("traffic_routing", cd.traffic_routing), "canary.traffic_routing", ("canary", "linear")
        ),
        size_percent=_int(canary_raw.get("size_percent", cd.size_percent), "canary.size_percent", 1, 50),
        wait_minutes=_int(canary_raw.get("wait_minutes", cd.wait_minutes), "canary.wait_minutes", 0, MAX_WAIT_SECONDS // 60),
        # SageMaker: LinearStepSize "Value must be 10-50% of the variant's total instance count".
        linear_step_percent=_int(
            canary_raw.get("linear_step_percent", cd.linear_step_percent), "canary.linear_step_percent", 10, 50
        ),
        # The bake is SageMaker's TerminationWaitInSeconds (at most 3600 s).
        bake_minutes=_int(canary_raw.get("bake_minutes", cd.bake_minutes), "canary.bake_minutes", 0, MAX_WAIT_SECONDS // 60),
        deployment_timeout_minutes=None
        if canary_raw.get("deployment_timeout_minutes") is None
        else _int(
            canary_raw["deployment_timeout_minutes"],
            "canary.deployment_timeout_minutes",
            10,
            MAX_DEPLOYMENT_TIMEOUT_SECONDS // 60,
        ),
    )


def _context_values(context: Mapping[str, Any]) -> dict[str, Any]:
    """The `ml-cicd` object (a JSON string is parsed), `-c ml-cicd.a.b=...` overrides applied, known keys only."""
    raw = context.get(CONTEXT_KEY, {})
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except (ValueError, RecursionError) as error:
            reason = error.msg if isinstance(error, json.JSONDecodeError) else "nested too deeply or a number too long"
            raise ConfigError(f"invalid configuration {CONTEXT_KEY}: not a JSON object ({reason})") from None
    if not isinstance(raw, Mapping):
        raise ConfigError(f"invalid configuration {CONTEXT_KEY}: {_quote(raw)} is not an object")
    return _section(_apply_overrides(_copy(raw), context), "", _TOP_LEVEL)


def _load_values(context: Mapping[str, Any]) -> AppConfig:
    """Each value of the app's context, validated on its own (raises ConfigError)."""
    values = _context_values(context)
    defaults = AppConfig()

    def get(name: str) -> Any:
        return values.get(name, getattr(defaults, name))

    staging = _staging_config(values)
    production = _production_config(values)
    canary = _canary_config(values)
    _check_deployment(canary, production)

    environments = _section(values.get("environments", {}), "environments", {"pipeline", "staging", "production"})

    window = get("deployment_window")
    return AppConfig(
        project_name=_str(
            get("project_name"), "project_name", _NAME, "3-32 lowercase letters, digits and hyphens, starting with a letter"
        ),
        repository_name=_repository_name(get("repository_name")),
        release_branch=_release_branch(get("release_branch")),
        training_instance_type=_sagemaker_instance_type(get("training_instance_type"), "training_instance_type", "training"),
        evaluation_instance_type=_sagemaker_instance_type(
            get("evaluation_instance_type"), "evaluation_instance_type", "processing"
        ),
        use_spot_training=_bool(get("use_spot_training"), "use_spot_training"),
        training_timeout_minutes=_training_timeout(get("training_timeout_minutes")),
        staging=staging,
        production=production,
        require_manual_approval=_bool(get("require_manual_approval"), "require_manual_approval"),
        platform_floors=_floors(values.get("platform_floors"), "platform_floors"),
        notification_email=_optional_str(
            get("notification_email"),
            "notification_email",
            _EMAIL,
            "an e-mail address (at most 254 characters, no spaces or control characters) or null",
        ),
        canary=canary,
        deployment_window=None if window is None else _window(validate_cron, window, "deployment_window"),
        deployment_window_time_zone=_window(
            validate_time_zone, get("deployment_window_time_zone"), "deployment_window_time_zone"
        ),
        pull_request_approvals=_int(get("pull_request_approvals"), "pull_request_approvals", 1, 10),
        artifact_retention_days=_int(get("artifact_retention_days"), "artifact_retention_days", 1, 3650),
        log_retention_days=_log_retention(get("log_retention_days")),
        pipeline_env=_target(environments.get("pipeline", {}), "environments.pipeline"),
        staging_env=_target(environments.get("staging", {}), "environments.staging"),
        production_env=_target(environments.get("production", {}), "environments.production"),
        source=_source(values.get("source", {})),
        image_retention_count=_int(get("image_retention_count"), "image_retention_count", 1, 1000),
        bootstrap_kms_key_arn=_optional_str(
            get("bootstrap_kms_key_arn"),
            "bootstrap_kms_key_arn",
            _KMS_KEY_ARN,
            "a KMS key ARN such as arn:aws:kms:eu-west-1:111122223333:key/<key id>, or null",
        ),
        retained_release_stores=_retained_release_stores(values.get("retained_release_stores")),
    )


def _source(raw: Any) -> SourceConfig:
    """`source`: nothing (CodeCommit), or a repository with an existing connection or a provider to create one."""
    values = _section(raw if raw is not None else {}, "source", set(SourceConfig.__dataclass_fields__))
    repository = _optional_str(
        values.get("repository"),
        "source.repository",
        _FULL_REPOSITORY_ID,
        "owner/name of the repository on the host, such as my-org/fraud-model, or null",
    )
    connection_arn = _optional_str(
        values.get("connection_arn"),
        "source.connection_arn",
        _CONNECTION_ARN,
        "a CodeConnections connection ARN such as arn:aws:codeconnections:eu-west-1:111122223333:connection/<uuid>, or null",
    )
    provider = values.get("provider_type")
    if provider is not None:
        provider = _choice(provider, "source.provider_type", tuple(CONNECTION_PROVIDERS))
    host_arn = _optional_str(
        values.get("host_arn"), "source.host_arn", _HOST_ARN, "a CodeConnections host ARN (self-managed providers), or null"
    )
    host_url = _optional_str(
        values.get("host_url"), "source.host_url", _HOST_URL, "the https:// URL of a self-managed host, or null"
    )
    if repository is None:
        if connection_arn or provider or host_arn or host_url:
            raise _fail(
                "source.repository",
                "is missing; allowed: owner/name of the repository the connection "
                "reads (set it with source.connection_arn or source.provider_type, or neither)",
            )
        return SourceConfig()
    if connection_arn is None and provider is None:
        raise _fail(
            "source.connection_arn",
            "is missing; allowed: an existing connection's ARN, or source.provider_type to have the stack create the connection",
        )
    provider = provider or "GitHub"
    if provider in SELF_MANAGED_PROVIDERS:
        if host_url is None:
            raise _fail("source.host_url", f"is missing; allowed: the https:// URL of the {provider} host")
        if connection_arn is None and host_arn is None:
            raise _fail(
                "source.host_arn",
                f"is missing; allowed: the CodeConnections host ARN of the {provider} "
                "server, needed to create a connection to it",
            )
    return SourceConfig(
        repository=repository,
        connection_arn=connection_arn,
        provider_type=provider,
        host_arn=host_arn,
        host_url=host_url,
        connection_completed=_connection_completed(values.get("connection_completed"), creates=connection_arn is None),
    )


def _connection_completed(raw: Any, *, creates: bool) -> bool:
    """`source.connection_completed`: only for a connection the stack creates (an existing one is complete)."""
    if raw is None:
        return False
    completed = _bool(raw, "source.connection_completed")
    if not creates:
        raise _fail(
            "source.connection_completed",
            "is set with source.connection_arn; allowed: only with source.provider_type, when the stack creates the connection",
        )
    return completed


def _retained_release_stores(raw: Any) -> tuple[RetainedReleaseStore, ...]:
    """`retained_release_stores`: a list of {"bucket", "kms_key_arn"} (what `make destroy` printed), or empty."""
    key = "retained_release_stores"
    if raw is None:
        return ()
    if not isinstance(raw, list) or len(raw) > 10:
        raise _fail(key, f"{_quote(raw)} is not allowed; allowed: a list of at most 10 {{bucket, kms_key_arn}} objects")
    stores = []
    for index, entry in enumerate(raw):
        values = _section(entry, f"{key}.{index}", {"bucket", "kms_key_arn"})
        if set(values) != {"bucket", "kms_key_arn"}:
            raise _fail(f"{key}.{index}", "needs both bucket and kms_key_arn (`make destroy` prints them)")
        stores.append(
            RetainedReleaseStore(
                bucket=_str(values["bucket"], f"{key}.{index}.bucket", _BUCKET_NAME, "an S3 bucket name"),
                kms_key_arn=_str(
                    values["kms_key_arn"],
                    f"{key}.{index}.kms_key_arn",
                    _KMS_KEY_ARN,
                    "a KMS key ARN such as arn:aws:kms:eu-west-1:111122223333:key/<key id>",
                ),
            )
        )
    return tuple(stores)


_SERVERLESS_MEMORY = (1024, 2048, 3072, 4096, 5120, 6144)
# The retention periods CloudWatch Logs accepts.
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)


def _staging_probe(raw: Mapping[str, Any], defaults: StagingConfig) -> dict[str, int]:
    """The staging gate's probe settings: 300 s of warm-up + 600 s of measurement = 900 s, Lambda's
    longest timeout; InvokeEndpoint waits at most 60 s for an answer."""
    limits = {"warmup_max_attempts": (0, 20), "warmup_max_seconds": (0, 300), "read_timeout_seconds": (1, 60)}
    return {
        name: _int(raw.get(name, getattr(defaults, name)), f"staging.{name}", low, high) for name, (low, high) in limits.items()
    }


def _serverless_memory(raw: Any) -> int:
    if raw not in _SERVERLESS_MEMORY or isinstance(raw, bool):
        raise _fail(
            "staging.serverless_memory_mb", f"{_quote(raw)} is not allowed; allowed: {', '.join(map(str, _SERVERLESS_MEMORY))}"
        )
    return int(raw)


def _log_retention(raw: Any) -> int:
    if raw not in LOG_RETENTION_DAYS or isinstance(raw, bool):
        raise _fail(
            "log_retention_days", f"{_quote(raw)} is not allowed; allowed: one of {', '.join(map(str, LOG_RETENTION_DAYS))}"
        )
    return int(raw)


def _sagemaker_instance_type(raw: Any, key: str, use: str) -> str:
    """An instance type that SageMaker accepts for `use` (training, processing or hosting).

    The list is botocore's service-model enum for that use, checked in as
    release_tools/sagemaker_instance_types.json; serverless endpoints take none.
    """
    value = _instance_type(raw, key)
    if value not in instance_types(use):
        shown = value if len(value) <= 40 else value[:40] + "..."
        raise _fail(
            key,
            f"{shown!r} is not a SageMaker {use} instance type; allowed: one of the "
            f"{len(instance_types(use))} types of botocore's {ENUM_SHAPES[use]} "
            f"(release_tools/{TABLE_PATH.name}), such as ml.m5.large",
        )
    return value


def _training_timeout(raw: Any) -> int:
    """Minutes each SageMaker job may run, bounded by what the Train stage can wait for.

    The stage waits for training and evaluation, each plus provisioning, inside one
    CodeBuild action that CodePipeline ends after 8 hours (release_tools/stage_budget.py).
    """
    key = "training_timeout_minutes"
    value = _int(raw, key, 5, 1440)
    if value > MAX_TRAINING_TIMEOUT_MINUTES:
        raise _fail(
            key,
            f"{value} is more than the Train stage can wait for ({stage_timeout_minutes(value)} minutes "
            f"for two jobs and their provisioning, above CodePipeline's 480-minute limit for a "
            f"CodeBuild action); allowed: an integer from 5 to {MAX_TRAINING_TIMEOUT_MINUTES}",
        )
    return value


def _window(check: Callable[[Any], str], raw: Any, key: str) -> str:
    """A deployment-window value checked by `stacks.deployment_window`, refused with the usual one line."""
    try:
        return check(raw)
    except WindowError as error:
        shown = repr(raw) if len(repr(raw)) <= 80 else repr(raw)[:77] + "..."
        raise _fail(key, f"{shown} is not allowed: {error}") from None


def _check_deployment(canary: CanaryConfig, production: ProductionConfig) -> None:
    """What SageMaker refuses at deployment time, refused at synth instead.

    SageMaker's TrafficRoutingConfig: CanarySize "Value must be less than or equal to 50% of the variant's
    total instance count"; LinearStepSize "Value must be 10-50% of the variant's total instance count". A
    percentage becomes whole instances (at least one, rounded up), checked for every fleet size autoscaling
    may leave the variant at when a deployment starts. MaximumExecutionTimeoutInSeconds "should be larger than
    the total waiting time specified in TerminationWaitInSeconds and WaitIntervalInSeconds" (at most 28,800 s).
    """
    # SageMaker's deployment guardrails exclusions: on "Endpoints that use Inf1 (Inferentia-based) instances" the
    # endpoint "will fall back to using a blue/green deployment with all at once traffic shifting and no final
    # baking period": no canary, no bake, silently.
    if production.instance_type.startswith("ml.inf1."):
        raise _fail(
            "production.instance_type",
            f"{production.instance_type!r} is not allowed: SageMaker's deployment "
            "guardrails exclude Inf1 instances (all traffic at once, no bake); allowed: an instance family "
            "other than ml.inf1 (ml.inf2 is not excluded)",
        )
    for fleet in range(production.min_capacity, production.max_capacity + 1):
        if canary.traffic_routing == "canary":
            batch = max(1, math.ceil(fleet * canary.size_percent / 100))
            if 2 * batch > fleet:
                raise _fail(
                    "canary.size_percent",
                    f"{canary.size_percent} % of a {fleet}-instance fleet is {batch} "
                    "instance(s), more than half of it; allowed: a canary of at most half the fleet at every "
                    "size from production.min_capacity to max_capacity (at least 2 instances)",
                )
        else:
            batch = max(1, math.ceil(fleet * canary.linear_step_percent / 100))
            if not fleet <= 10 * batch <= 5 * fleet:
                raise _fail(
                    "canary.linear_step_percent",
                    f"{canary.linear_step_percent} % of a {fleet}-instance "
                    f"fleet is {batch} instance(s), {100 * batch // fleet} % of it; allowed: steps of 10-50 % "
                    "of the fleet at every size from production.min_capacity to max_capacity",
                )
    needed = canary.waits_seconds + 600
    if canary.deployment_timeout_minutes is None and canary.deployment_timeout_seconds > MAX_DEPLOYMENT_TIMEOUT_SECONDS:
        raise _fail(
            "canary.wait_minutes",
            f"{canary.traffic_steps} traffic steps x {canary.wait_minutes} min plus a "
            f"{canary.bake_minutes}-min bake and provisioning need {canary.deployment_timeout_seconds} s; "
            f"allowed: at most SageMaker's {MAX_DEPLOYMENT_TIMEOUT_SECONDS} s deployment timeout",
        )
    if canary.deployment_timeout_seconds < needed:
        raise _fail(
            "canary.deployment_timeout_minutes",
            f"{canary.deployment_timeout_minutes} min cannot cover the "
            f"configured waits ({canary.waits_seconds} s) plus 10 min to provision the new fleet; allowed: "
            f"at least {-(-needed // 60)} min",
        )


# ---------------------------------------------------------------------------
# Values that pass a pattern but that git or an AWS service refuses at deploy
# time, and limits that only the combination of several values can break.
# ---------------------------------------------------------------------------


def load_config(context: Mapping[str, Any]) -> AppConfig:
    """Build the validated configuration from the app's context (raises ConfigError, one line)."""
    config = _load_values(context)
    _check_codebuild_description(config)
    _check_lambda_environment(config)
    return config


_QUOTE_MAX = 120  # characters: an ARN or a path is quoted whole, a pasted file is not


def _quote(raw: Any) -> str:
    """`raw` as Python writes it (control characters escaped), shortened: an error never echoes a long value whole."""
    if isinstance(raw, int) and not isinstance(raw, bool) and abs(raw) >= 10**_QUOTE_MAX:
        return f"an integer of {_digits(raw)} digits"  # repr() refuses integers beyond 4,300 digits
    try:
        text = repr(raw)
    except RecursionError:  # a value nested thousands of levels deep
        text = f"<a {type(raw).__name__} nested too deeply to print>"
    if len(text) <= _QUOTE_MAX:
        return text
    return f"{text[: _QUOTE_MAX - 30]}...{text[-20:]} ({len(text)} characters)"


def _digits(raw: int) -> int:
    """How many decimal digits `raw` has, without converting it to a string (which Python limits)."""
    digits = math.floor((max(abs(raw).bit_length(), 1) - 1) * math.log10(2)) + 1  # 2**(bits-1) has this many
    return digits + 1 if abs(raw) >= 10**digits else digits


def _printable_key(key: str) -> str:
    """A dotted key as the error names it: control characters escaped, a very long key shortened."""
    printable = key if key.isprintable() else key.encode("unicode_escape").decode("ascii")
    return printable if len(printable) <= 2 * _QUOTE_MAX else f"{printable[:_QUOTE_MAX]}...({len(key)} characters)"


def _account(raw: Any, key: str) -> str | None:
    """A 12-digit account ID; `-c ...account=123456789012` arrives as a JSON number and is accepted."""
    if isinstance(raw, int) and not isinstance(raw, bool) and 0 <= raw < 10**12:
        if raw < 10**11:
            raise _fail(
                key,
                f"{raw} has fewer than 12 digits; an account id that starts with 0 loses its zeros "
                f"as a number: quote it, e.g. -c '{CONTEXT_KEY}.{key}=\"{raw:012d}\"'",
            )
        return f"{raw:012d}"
    return _optional_str(raw, key, _ACCOUNT, "a 12-digit AWS account id (a string, or a number without leading zeros) or null")


@functools.cache
def known_regions() -> tuple[str, ...]:
    """Every region of every partition in the installed botocore's endpoints data (`endpoints.json`)."""
    import botocore  # the app's only botocore use, and only when a region is configured

    data = json.loads((Path(botocore.__file__).parent / "data" / "endpoints.json").read_text(encoding="utf-8"))
    return tuple(sorted(region for partition in data["partitions"] for region in partition["regions"]))


def _region(raw: Any, key: str) -> str | None:
    if raw is None or (isinstance(raw, str) and raw in known_regions()):
        return raw
    raise _fail(key, f"{_quote(raw)} is not a region botocore knows; allowed: null or one of {', '.join(known_regions())}")


def _repository_name(raw: Any) -> str:
    """CodeCommit's rules: botocore's RepositoryName shape (`[\\w\\.-]+`, 1-100), and "The suffix .git is prohibited"."""
    name = _str(raw, "repository_name", _REPOSITORY_NAME, "1-100 letters, digits, '.', '_' or '-', not ending in .git")
    if name in (".", "..") or name.lower().endswith(".git"):
        raise _fail(
            "repository_name",
            f"{_quote(name)} is refused by CodeCommit; allowed: a name other than . or .. that does not end in .git",
        )
    return name


# git-check-ref-format(1), the rules a branch (refs/heads/<name>) must follow, in git's words:
_GIT_REF_RULES = (
    (
        "no slash-separated component can begin with a dot . or end with the sequence .lock",
        lambda ref: any(part.startswith(".") or part.endswith(".lock") for part in ref.split("/")),
    ),
    ("they cannot have two consecutive dots .. anywhere", lambda ref: ".." in ref),
    (
        "they cannot have ASCII control characters, space, tilde ~, caret ^, or colon : anywhere",
        lambda ref: any(ord(c) < 0o40 or ord(c) == 0o177 or c in " ~^:" for c in ref),
    ),
    ("they cannot have question-mark ?, asterisk *, or open bracket [ anywhere", lambda ref: any(c in "?*[" for c in ref)),
    (
        "they cannot begin or end with a slash / or contain multiple consecutive slashes",
        lambda ref: ref.startswith("/") or ref.endswith("/") or "//" in ref,
    ),
    ("they cannot end with a dot .", lambda ref: ref.endswith(".")),
    ("they cannot contain a sequence @{", lambda ref: "@{" in ref),
    ("they cannot be the single character @", lambda ref: ref == "@"),
    ("they cannot contain a \\", lambda ref: "\\" in ref),
)


def git_branch_problem(name: str) -> str | None:
    """Why git refuses `name` as a branch (`git check-ref-format --branch`), or None when it accepts it.

    The ref rules are checked on the full ref, `refs/heads/<name>` (which satisfies "at least
    one /"); `--branch` also refuses a name starting with - and the name HEAD.
    CodeCommit adds one rule: a branch name cannot be exactly 40 hexadecimal characters.
    """
    if name.startswith("-") or name == "HEAD":
        return "git refuses a branch named HEAD or starting with -"
    if re.fullmatch(r"[0-9a-fA-F]{40}", name):
        return "CodeCommit refuses a branch name of exactly 40 hexadecimal characters"
    for rule, broken in _GIT_REF_RULES:
        if broken(f"refs/heads/{name}"):
            return f"git check-ref-format: {rule}"
    return None


def _release_branch(raw: Any) -> str:
    if isinstance(raw, str) and (problem := git_branch_problem(raw)):
        raise _fail("release_branch", f"{_quote(raw)} is not a branch name git accepts ({problem})")
    # Beyond git: no IAM or EventBridge wildcard characters, since the name appears in conditions and patterns.
    return _str(
        raw,
        "release_branch",
        _BRANCH,
        "a git branch name such as main: 1-100 letters, digits, '.', '_', '/' or '-', starting with a letter or digit",
    )


def pull_request_checks_description(config: AppConfig) -> str:
    """The pull-request checks' CodeBuild description, as the stack builds it for the configured source."""
    if config.source.uses_connection:
        summary = host_pull_request_checks_summary(
            project_name=config.project_name,
            release_branch=config.release_branch,
            provider_type=config.source.provider_type or "",
        )
    else:
        summary = pull_request_checks_summary(project_name=config.project_name, release_branch=config.release_branch)
    return codebuild_description(summary, PULL_REQUEST_CHECKS_BUILDSPEC)


def _check_codebuild_description(config: AppConfig) -> None:
    """The pull-request checks' CodeBuild description names the project and branch; CodeBuild allows 255 characters."""
    description = pull_request_checks_description(config)
    if len(description) > CODEBUILD_DESCRIPTION_MAX:
        room = CODEBUILD_DESCRIPTION_MAX - (len(description) - len(config.release_branch))
        raise _fail(
            "release_branch",
            f"makes the pull-request checks' CodeBuild description {len(description)} characters "
            f"long; allowed: at most {CODEBUILD_DESCRIPTION_MAX}, so a branch name of at most "
            f"{room} characters with this project_name and source",
        )


def largest_gate_environment(config: AppConfig) -> dict[str, str]:
    """The staging gate's variables (the largest set) with the longest bucket name and key ARN."""
    return floors_gate_environment(
        record_bucket="b" * S3_BUCKET_NAME_MAX,
        record_kms_key_arn=KMS_KEY_ARN_LONGEST,
        platform_floors_json=config.platform_floors_json,
        staging_probe_json=config.staging.probe_json,
    )


def _check_lambda_environment(config: AppConfig) -> None:
    """The gates get the floors as an environment variable; Lambda allows 4 KB for all of a function's variables."""
    variables = largest_gate_environment(config)
    size = lambda_environment_size(variables)
    if size > LAMBDA_ENVIRONMENT_MAX_BYTES:
        raise _fail(
            "platform_floors",
            f"is {len(config.platform_floors_json)} bytes as JSON, which makes the gate functions' "
            f"environment {size} bytes; allowed: at most {LAMBDA_ENVIRONMENT_MAX_BYTES} bytes "
            "for all of a function's variables (Lambda quota): fewer or shorter metric names",
        )
