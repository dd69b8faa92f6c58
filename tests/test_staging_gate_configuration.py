"""The staging gate's probe configuration: from `ml-cicd.staging`, into the function, within its timeout."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stacks.config import ConfigError, StagingConfig, load_config
from staging_gate.endpoint_probe import ANSWER_RESERVE_MS
from staging_gate.warmup import ProbeSettings
from tests.synthesis_fixtures import SynthesizedApp, cdk_json_context


def _staging_gate(template: dict[str, Any]) -> dict[str, Any]:
    (function,) = [
        r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function" and r["Properties"].get("Handler") == "staging_gate.handler.handler"
    ]
    return function


def test_the_function_gets_the_configured_probe_and_a_timeout_covering_warm_up_and_measurement(
    synthesized: SynthesizedApp,
) -> None:
    staging = load_config(cdk_json_context()).staging
    function = _staging_gate(synthesized.pipeline)
    probe = ProbeSettings.from_environment(function["Environment"]["Variables"])
    assert (probe.warmup_max_attempts, probe.warmup_max_seconds, probe.read_timeout_seconds) == (
        staging.warmup_max_attempts,
        staging.warmup_max_seconds,
        staging.read_timeout_seconds,
    )
    # The warm-up never exceeds warmup_max_seconds; the measurement stops while one more call and the
    # answer still fit. The timeout leaves the measurement its whole budget after the longest warm-up.
    assert function["Timeout"] == staging.warmup_max_seconds + StagingConfig.MEASUREMENT_SECONDS
    assert StagingConfig.MEASUREMENT_SECONDS * 1000 > probe.measured_call_seconds * 1000 + ANSWER_RESERVE_MS


def test_the_longest_allowed_warm_up_still_fits_lambdas_limit() -> None:
    config = load_config({"ml-cicd": {"staging": {"warmup_max_seconds": 300}}})
    assert config.staging.gate_timeout_seconds == 900  # Lambda's maximum


@pytest.mark.parametrize(
    ("staging", "message"),
    [
        ({"warmup_max_seconds": 301}, "ml-cicd.staging.warmup_max_seconds: 301"),
        ({"warmup_max_attempts": -1}, "ml-cicd.staging.warmup_max_attempts: -1"),
        ({"read_timeout_seconds": 0}, "ml-cicd.staging.read_timeout_seconds: 0"),
    ],
)
def test_an_out_of_range_probe_setting_is_refused_naming_the_key(staging: dict[str, int], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as raised:
        load_config({"ml-cicd": {"staging": staging}})
    assert "\n" not in str(raised.value)


def test_the_function_reads_what_the_configuration_writes() -> None:
    staging = StagingConfig(warmup_max_attempts=2, warmup_max_seconds=40, read_timeout_seconds=9)
    probe = ProbeSettings.from_environment({"STAGING_PROBE": staging.probe_json})
    assert json.loads(staging.probe_json) == {k: getattr(probe, k) for k in json.loads(staging.probe_json)}


class _NeverAnswers:
    def invoke_endpoint(self, **_: Any) -> Any:
        from botocore.exceptions import ReadTimeoutError

        raise ReadTimeoutError(endpoint_url="https://runtime.sagemaker")


def test_the_warm_up_never_runs_past_its_time_bound() -> None:
    from staging_fixtures import GOLDEN_TEXT
    from staging_gate.golden_requests import parse_golden_requests
    from staging_gate.warmup import warm_up

    now = [0.0]

    def clock() -> float:  # each call to the endpoint takes its whole read timeout
        return now[0]

    class Slow(_NeverAnswers):
        def invoke_endpoint(self, **request: Any) -> Any:
            now[0] += 62
            return super().invoke_endpoint(**request)

    settings = ProbeSettings(warmup_max_attempts=20, warmup_max_seconds=180)
    request = parse_golden_requests(GOLDEN_TEXT, origin="golden-requests.jsonl")[0]
    result = warm_up(Slow(), "e", request, settings=settings, clock=clock)
    assert now[0] <= settings.warmup_max_seconds and len(result.attempts) == 2
    assert result.stopped == "stopped: 180 s bound" and not result.warm
