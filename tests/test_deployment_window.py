"""The deployment window and the production deployment settings: refused at synth when AWS would refuse them.

The cron format is CodePipeline's DeploymentWindow rule's own (rule reference table quoted in
stacks/deployment_window.py); the limits are SageMaker's (botocore's service model and API reference).
"""

from __future__ import annotations

import pytest

from stacks.config import ConfigError, load_config
from stacks.deployment_window import WindowError, validate_cron


@pytest.mark.parametrize(
    "expression",
    [
        "* * 9-17 ? * MON-FRI *",  # weekdays 09:00-17:59, the README's example
        "* * 9-17 ? * MON-FRI",  # the year is optional
        "* 0-29 22-23 ? * SAT,SUN *",
        "* */15 * ? * 2-6 2027-2030",
        "* * * L * ? *",  # the last day of the month
        "* * * LW * ?",
        "* * * 15W JAN-MAR ?",
        "* * * ? * 6L",  # the last Friday of the month
        "* * 8-18 ? * MON#1",
        "* 0/30 * ? DEC *",
    ],
)
def test_codepipeline_windows_are_accepted_unchanged(expression: str) -> None:
    assert validate_cron(expression) == expression
    assert load_config({"ml-cicd": {"deployment_window": expression}}).deployment_window == expression


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("cron(banana)", "an EventBridge 'cron(...)' schedule marks start moments"),
        ("cron(0 9-16 ? * MON-THU *)", "for the hours 9-16 write '* * 9-16 ? * MON-THU *'"),
        ("0 * 9-17 ? * MON-FRI *", "seconds field: '0' is not allowed; the rule reference allows only '*'"),
        ("* * 9-17 ? * MON-FRI * *", "8 space-separated fields"),
        ("* 9-17 ? * MON-FRI", "5 space-separated fields"),
        ("* *  9-17 ? * MON-FRI", "separated by single spaces"),
        ("* 60 * ? * *", "minutes field: 60 is outside 0-59"),
        ("* * 24 ? * *", "hours field: 24 is outside 0-23"),
        ("* * * 0 * ?", "day-of-month field: 0 is outside 1-31"),
        ("* * * ? 13 *", "month field: 13 is outside 1-12"),
        ("* * * ? FOO *", "month field: 'FOO' is not a value of 1-12 or JAN-DEC"),
        ("* * * ? * 8", "day-of-week field: 8 is outside 1-7"),
        ("* * * ? * * 1969", "year field: 1969 is outside 1970-2199"),
        ("* * 17-9 ? * MON-FRI", "range '17-9' runs backwards"),
        ("* * 9-17 * * MON-FRI", "exactly one of day-of-month and day-of-week must be '?'"),
        ("* * 9-17 ? * ?", "exactly one of day-of-month and day-of-week must be '?'"),
        ("* ? * 1 * ?", "minutes field: '?' is allowed only in day-of-month and day-of-week"),
        ("* * 9#2 ? * *", "hours field: '#' is not allowed"),
        ("* * * ? * * L", "year field: 'L' is not a value"),
        ("* */0 * ? * *", "increment '0' is not an integer"),
        ("* 1,,2 * ? * *", "an empty element"),
    ],
)
def test_bad_windows_are_refused_with_one_line_naming_the_key(expression: str, reason: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config({"ml-cicd": {"deployment_window": expression}})
    message = str(caught.value)
    assert message.startswith("invalid configuration ml-cicd.deployment_window: ")
    assert "\n" not in message and "allowed" in message
    assert reason in message


def test_a_window_that_is_not_a_string_is_refused() -> None:
    with pytest.raises(WindowError):
        validate_cron(42)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="ml-cicd.deployment_window: 42 is not allowed"):
        load_config({"ml-cicd": {"deployment_window": 42}})


@pytest.mark.parametrize("zone", ["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata"])
def test_iana_time_zones_are_accepted(zone: str) -> None:
    assert load_config({"ml-cicd": {"deployment_window_time_zone": zone}}).deployment_window_time_zone == zone


@pytest.mark.parametrize("zone", ["Mars/Olympus", "Europe/Pariss", "utc+1", "", "Europe/../etc/passwd", None, 3])
def test_unknown_time_zones_are_refused(zone: object) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config({"ml-cicd": {"deployment_window_time_zone": zone}})
    assert str(caught.value).startswith("invalid configuration ml-cicd.deployment_window_time_zone: ")
    assert "not in the IANA time zone database" in str(caught.value)


def test_a_very_long_window_is_quoted_shortened() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config({"ml-cicd": {"deployment_window": "9" * 5000}})
    assert len(str(caught.value)) < 400


# -- finding 12: production deployment settings SageMaker would refuse ------------------------------------


@pytest.mark.parametrize(
    ("overrides", "key", "reason"),
    [
        (
            {"canary": {"traffic_routing": "linear", "linear_step_percent": 5}},
            "canary.linear_step_percent",
            "5 is out of range; allowed: an integer from 10 to 50",
        ),
        (
            {"canary": {"traffic_routing": "linear", "linear_step_percent": 55}},
            "canary.linear_step_percent",
            "55 is out of range",
        ),
        (
            {"canary": {"traffic_routing": "linear", "linear_step_percent": 50}},
            "canary.linear_step_percent",
            "50 % of a 3-instance fleet is 2 instance(s), 66 % of it",
        ),
        (
            {"production": {"instance_count": 1, "min_capacity": 1}},
            "canary.size_percent",
            "10 % of a 1-instance fleet is 1 instance(s), more than half of it",
        ),
        ({"canary": {"size_percent": 50}}, "canary.size_percent", "50 % of a 3-instance fleet is 2 instance(s)"),
        (
            {"production": {"instance_count": 1, "min_capacity": 1}, "canary": {"traffic_routing": "linear"}},
            "canary.linear_step_percent",
            "of a 1-instance fleet is 1 instance(s), 100 % of it",
        ),
        (
            {"production": {"instance_type": "ml.inf1.xlarge"}},
            "production.instance_type",
            "SageMaker's deployment guardrails exclude Inf1 instances",
        ),
        ({"canary": {"bake_minutes": 61}}, "canary.bake_minutes", "61 is out of range; allowed: an integer from 0 to 60"),
        ({"canary": {"wait_minutes": 61}}, "canary.wait_minutes", "61 is out of range; allowed: an integer from 0 to 60"),
        (
            {"canary": {"traffic_routing": "linear", "linear_step_percent": 10, "wait_minutes": 60}},
            "canary.wait_minutes",
            "at most SageMaker's 28800 s deployment timeout",
        ),
        (
            {"canary": {"deployment_timeout_minutes": 30}},
            "canary.deployment_timeout_minutes",
            "30 min cannot cover the configured waits (2100 s)",
        ),
        (
            {"canary": {"deployment_timeout_minutes": 481}},
            "canary.deployment_timeout_minutes",
            "481 is out of range; allowed: an integer from 10 to 480",
        ),
    ],
)
def test_deployments_sagemaker_would_refuse_are_refused_at_synth(overrides: dict, key: str, reason: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config({"ml-cicd": overrides})
    message = str(caught.value)
    assert message.startswith(f"invalid configuration ml-cicd.{key}: ")
    assert "\n" not in message and "allowed" in message
    assert reason in message


def test_the_deployment_timeout_covers_provisioning_every_step_and_the_bake() -> None:
    canary = load_config({"ml-cicd": {}}).canary
    assert canary.waits_seconds == 2 * 600 + 900
    assert canary.deployment_timeout_seconds == canary.waits_seconds + 1800
    linear = load_config({"ml-cicd": {"canary": {"traffic_routing": "linear", "linear_step_percent": 25}}}).canary
    assert linear.traffic_steps == 4 and linear.waits_seconds == 4 * 600 + 900
    explicit = load_config({"ml-cicd": {"canary": {"deployment_timeout_minutes": 45}}}).canary
    assert explicit.deployment_timeout_seconds == 2700


def test_the_timeout_reaches_the_endpoint_template() -> None:
    from stacks.endpoint_templates import endpoint_props

    props = endpoint_props(load_config({"ml-cicd": {"canary": {"deployment_timeout_minutes": 120, "bake_minutes": 30}}}))
    assert props["production"].deployment_timeout_seconds == 7200
    assert props["production"].termination_wait_seconds == 1800


def test_every_window_in_the_readme_is_accepted() -> None:
    from tests.synthesis_fixtures import ROOT

    readme = (ROOT / "README.md").read_text()
    table = readme.split("| window | `deployment_window` |", 1)[1].split("\n\n", 1)[0]
    examples = [row.split("`")[1] for row in table.splitlines()[2:]]
    assert len(examples) >= 4
    for expression in examples:
        assert validate_cron(expression) == expression
