"""Bad configuration: every value that git or an AWS service would refuse later is refused at synth, in one line.

Each check is compared with what the service itself checks (botocore's
service models and endpoints data, `git check-ref-format`), and the pinned
environments are synthesized through the real app with cdk-nag and
CloudFormation validation on.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from typing import Any

import botocore.session
import pytest

from stacks.config import (
    CONNECTION_PROVIDERS,
    ConfigError,
    git_branch_problem,
    known_regions,
    largest_gate_environment,
    load_config,
    pull_request_checks_description,
)
from stacks.service_limits import (
    CODEBUILD_DESCRIPTION_MAX,
    LAMBDA_ENVIRONMENT_MAX_BYTES,
    floors_gate_environment,
    lambda_environment_size,
)
from tests.synthesis_fixtures import (
    GITHUB_CONNECTION,
    GITLAB_SWITCHED_OPTIONS,
    PINNED_PIPELINE_ENVIRONMENTS,
    ROOT,
    SynthesizedApp,
    Variant,
    cdk_json_context,
    variant_synthesis,
)

BOTOCORE = botocore.session.get_session()


def refusal(context: dict[str, Any]) -> str:
    """The one-line message `load_config` refuses `context` with (fails the test if it accepts it)."""
    with pytest.raises(ConfigError) as caught:
        load_config(context)
    message = str(caught.value)
    assert "\n" not in message and "\r" not in message
    assert message.startswith("invalid configuration ml-cicd")
    return message


# --- Pinned environments: the real app synthesizes clean with cdk-nag and CloudFormation validation ---------


@pytest.mark.parametrize(
    ("pinned", "variant"),
    [("region-only", GITHUB_CONNECTION), ("account-and-region", GITLAB_SWITCHED_OPTIONS)],
    ids=["region-only", "account-and-region"],
)
def test_a_pinned_pipeline_environment_synthesizes_clean_with_nag_and_validation(
    pinned: str, variant: Variant, pytestconfig: pytest.Config
) -> None:
    """Each pinning rides on a variant synthesized anyway (tests/synthesis_fixtures.PINNED_PIPELINE_ENVIRONMENTS);
    a cdk-nag or CloudFormation validation finding refuses the synthesis, which raises here."""
    app = variant_synthesis(pytestconfig, variant)
    pins = PINNED_PIPELINE_ENVIRONMENTS[pinned]
    assert pins.items() <= variant.context().items()
    resources = json.dumps(app.pipeline["Resources"])
    # The stack really is pinned: the acknowledged ARNs carry the literal region (and account) cdk-nag prints.
    region = pins["ml-cicd.environments.pipeline.region"]
    assert f"arn:aws:sagemaker:{region}:" in resources
    account = pins.get("ml-cicd.environments.pipeline.account")
    if account:
        assert f":{region}:{account}:" in resources
    else:
        assert '{"Ref": "AWS::AccountId"}' in resources  # the account is the deploying one's


# --- Account IDs given with -c arrive as JSON numbers ---------------------------------------------------------


def test_an_account_id_given_with_c_as_a_number_is_accepted() -> None:
    config = load_config(
        {"ml-cicd.environments.pipeline.account": "123456789012", "ml-cicd.environments.production.account": '"012345678901"'}
    )
    assert config.pipeline_env.account == "123456789012"
    assert config.production_env.account == "012345678901"


def test_an_account_id_that_lost_its_leading_zero_as_a_number_says_to_quote_it() -> None:
    message = refusal({"ml-cicd.environments.staging.account": "12345678901"})
    assert "ml-cicd.environments.staging.account: 12345678901 has fewer than 12 digits" in message
    assert "quote it" in message and '"012345678901"' in message


@pytest.mark.parametrize("account", [True, -1, 10**12, 1.2345678901e11, "12345678901a"])
def test_other_account_values_are_refused(account: Any) -> None:
    assert "ml-cicd.environments.pipeline.account" in refusal({"ml-cicd": {"environments": {"pipeline": {"account": account}}}})


# --- Branch names: git's check-ref-format rules, compared with git itself -------------------------------------

BRANCHES = [
    "main",
    "release/2026",
    "feature/a.b",
    "v1.0",
    "a-b_c",
    "x" * 100,
    "a..b",
    "main.lock",
    "a/.hidden",
    ".hidden",
    "a/b.lock/c",
    "a//b",
    "a/",
    "/a",
    "a.",
    "a@{b",
    "@",
    "a\\b",
    "a b",
    "a~b",
    "a^b",
    "a:b",
    "a?b",
    "a*b",
    "a[b",
    "main\n",
    "main\t",
    "a\x7fb",
    "-main",
    "HEAD",
]


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
@pytest.mark.parametrize("name", BRANCHES)
def test_branch_rules_agree_with_git_check_ref_format(name: str) -> None:
    git = subprocess.run(["git", "check-ref-format", "--branch", name], capture_output=True, text=True, cwd=ROOT)
    assert (git.returncode == 0) == (git_branch_problem(name) is None), (name, git_branch_problem(name))


@pytest.mark.parametrize("name", ["a..b", "main.lock", "main\n", "a/", "0123456789abcdef0123456789abcdef01234567"])
def test_branch_names_git_or_codecommit_refuse_are_refused(name: str) -> None:
    message = refusal({"ml-cicd": {"release_branch": name}})
    assert message.startswith("invalid configuration ml-cicd.release_branch: ")
    assert "git check-ref-format" in message or "CodeCommit" in message


# --- E-mail, repository names, regions ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "email", ["ops@example.com\n", "ops@example.com\r", "ops\x00@example.com", "ops@exa\x1bmple.com", "a" * 250 + "@example.com"]
)
def test_an_email_with_control_characters_or_too_long_is_refused(email: str) -> None:
    assert "ml-cicd.notification_email" in refusal({"ml-cicd": {"notification_email": email}})


def test_a_plain_email_is_accepted() -> None:
    assert load_config({"ml-cicd": {"notification_email": "ml-ops@example.com"}}).notification_email


@pytest.mark.parametrize("name", ["..", ".", "model.git", "model.GIT", "model\n", "a" * 101, "a/b", ""])
def test_repository_names_codecommit_refuses_are_refused(name: str) -> None:
    assert "ml-cicd.repository_name" in refusal({"ml-cicd": {"repository_name": name}})


def test_accepted_repository_names_match_botocores_codecommit_shape() -> None:
    shape = BOTOCORE.get_service_model("codecommit").shape_for("RepositoryName").metadata
    assert (shape["min"], shape["max"]) == (1, 100)
    for name in ("ml-model", "a", "x" * 100, "model.v2", "under_score", "..a"):
        accepted = load_config({"ml-cicd": {"repository_name": name}}).repository_name
        assert re.fullmatch(shape["pattern"], accepted, re.ASCII), accepted  # Java's \w is ASCII


def test_every_region_botocore_knows_for_the_pipelines_services_is_accepted() -> None:
    for partition in BOTOCORE.get_available_partitions():
        for service in ("sagemaker", "codepipeline", "codebuild", "codecommit", "lambda"):
            for region in BOTOCORE.get_available_regions(service, partition_name=partition):
                assert load_config({"ml-cicd.environments.staging.region": region}).staging_env.region == region
    assert {"eu-west-1", "us-east-1", "cn-north-1", "us-gov-west-1"} <= set(known_regions())


@pytest.mark.parametrize("region", ["mars-north-1", "eu-west-9", "EU-WEST-1", "eu-west-1\n", "aws-global", 1])
def test_regions_botocore_does_not_know_are_refused(region: Any) -> None:
    message = refusal({"ml-cicd": {"environments": {"production": {"region": region}}}})
    assert "ml-cicd.environments.production.region" in message and "eu-west-1" in message


# --- Limits that a combination of values can break -----------------------------------------------------------


def test_the_codebuild_description_limit_is_botocores() -> None:
    shape = BOTOCORE.get_service_model("codebuild").shape_for("ProjectDescription").metadata
    assert shape["max"] == CODEBUILD_DESCRIPTION_MAX


HOST = "arn:aws:codeconnections:eu-west-1:111122223333:host/h/12345678-1234-1234-1234-123456789012"


@pytest.mark.parametrize(
    "source",
    [{}]
    + [
        {"repository": "org/model", "provider_type": provider, "host_url": "https://git.example.com", "host_arn": HOST}
        for provider in CONNECTION_PROVIDERS
    ],
    ids=lambda source: source.get("provider_type", "CodeCommit"),
)
def test_the_longest_branch_that_fits_the_codebuild_description_is_accepted_and_one_more_is_refused(
    source: dict[str, str],
) -> None:
    project = "p" * 32
    with_empty_branch = pull_request_checks_description(
        load_config({"ml-cicd": {"project_name": project, "release_branch": "b", "source": source}})
    )
    longest = CODEBUILD_DESCRIPTION_MAX - len(with_empty_branch) + 1
    assert longest >= 57  # the figure the README gives for any source
    assert load_config({"ml-cicd": {"project_name": project, "release_branch": "b" * longest, "source": source}})
    message = refusal({"ml-cicd": {"project_name": project, "release_branch": "b" * (longest + 1), "source": source}})
    assert f"at most {longest} characters" in message and "ml-cicd.release_branch" in message


def test_the_stack_builds_the_pull_request_checks_description_with_the_measured_function(synthesized: SynthesizedApp) -> None:
    expected = pull_request_checks_description(load_config(cdk_json_context()))
    descriptions = [
        r["Properties"].get("Description")
        for r in synthesized.pipeline["Resources"].values()
        if r["Type"] == "AWS::CodeBuild::Project"
    ]
    assert expected in descriptions


def floors_of_size(metrics: int) -> dict[str, Any]:
    return {
        "platform_floors": {
            "metrics": {f"metric_{i:03d}_{'x' * 13}": {"min": 0.5, "higher_is_better": True} for i in range(metrics)}
        }
    }


def test_floors_that_overflow_the_lambda_environment_are_refused_and_a_fitting_set_is_accepted() -> None:
    assert load_config({"ml-cicd": floors_of_size(50)})
    message = refusal({"ml-cicd": floors_of_size(90)})
    assert "ml-cicd.platform_floors" in message and f"at most {LAMBDA_ENVIRONMENT_MAX_BYTES} bytes" in message


def test_the_largest_accepted_floors_fit_the_gates_environment_with_the_longest_bucket_name() -> None:
    metrics = 50
    while True:  # grow until refused: the last accepted set must fit with every other variable
        try:
            config = load_config({"ml-cicd": floors_of_size(metrics + 1)})
        except ConfigError:
            break
        metrics += 1
    config = load_config({"ml-cicd": floors_of_size(metrics)})
    assert lambda_environment_size(largest_gate_environment(config)) <= LAMBDA_ENVIRONMENT_MAX_BYTES


def test_the_functions_given_the_floors_get_exactly_the_variables_the_limit_is_computed_with(synthesized: SynthesizedApp) -> None:
    evaluation_gate = set(
        floors_gate_environment(record_bucket="", record_kms_key_arn="", platform_floors_json="", chain_of_custody=True)
    )
    largest = set(largest_gate_environment(load_config(cdk_json_context())))
    functions = [r["Properties"] for r in synthesized.pipeline["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
    with_floors = sorted(
        (
            set(f["Environment"]["Variables"])
            for f in functions
            if "PLATFORM_FLOORS" in f.get("Environment", {}).get("Variables", {})
        ),
        key=len,
    )
    assert with_floors == [evaluation_gate, largest]


# --- Numbers and strings that used to end in a traceback, and long values ------------------------------------


@pytest.mark.parametrize(
    ("context", "key"),
    [
        ({"ml-cicd": {"platform_floors": {"metrics": {"auc": {"min": 10**400}}}}}, "platform_floors.metrics.auc.min"),
        ({"ml-cicd.production.instance_count": "9" * 400}, "production.instance_count"),
        ({"ml-cicd.production.instance_count": "9" * 5000}, "production.instance_count"),  # beyond int('...') limit
        ({"ml-cicd": {"production": {"instance_count": 10**5000}}}, "production.instance_count"),
        ({"ml-cicd": {"project_name": "ml-cicd\n"}}, "project_name"),
        ({"ml-cicd": {"platform_floors": {"metrics": {"auc\n": {"min": 0.5}}}}}, "platform_floors.metrics.auc\\n"),
        ({"ml-cicd.staging": "[" * 100_000}, "staging"),
    ],
)
def test_values_that_raised_a_traceback_are_refused_in_one_short_line(context: dict[str, Any], key: str) -> None:
    message = refusal(context)
    assert message.startswith(f"invalid configuration ml-cicd.{key}: ")
    assert len(message) < 500  # the value shortened; the allowed keys listed


def test_a_context_key_that_is_not_json_is_refused_in_one_line() -> None:
    assert "not a JSON object" in refusal({"ml-cicd": "[" * 100_000})
    assert "not a JSON object" in refusal({"ml-cicd": '{"a": ' + "9" * 5000 + "}"})


@pytest.mark.parametrize("long_value", ["x" * 10_000, ["x"] * 10_000, {"k" * 5000: 1}])
def test_a_very_long_value_or_key_is_quoted_shortened(long_value: Any) -> None:
    message = refusal({"ml-cicd": {"project_name": long_value}} if not isinstance(long_value, dict) else {"ml-cicd": long_value})
    assert len(message) < 1000 and "characters)" in message and "k" * 500 not in message and "x" * 500 not in message


def every_key() -> list[str]:
    """Every configuration key, dotted, as `-c` names it."""
    from dataclasses import fields

    from stacks.config import AppConfig, CanaryConfig, ProductionConfig, StagingConfig

    sections = {"staging": StagingConfig, "production": ProductionConfig, "canary": CanaryConfig}
    keys = [f.name for f in fields(AppConfig) if f.name not in sections and not f.name.endswith("_env")]
    keys += [f"{section}.{f.name}" for section, cls in sections.items() for f in fields(cls)]
    keys += [f"environments.{e}.{part}" for e in ("pipeline", "staging", "production") for part in ("account", "region")]
    return keys + ["platform_floors.metrics.auc.min", "platform_floors.staging.max_error_rate", "environments"]


BAD_COMMAND_LINE_VALUES = [
    "9" * 400,
    "9" * 5000,
    "[" * 5000,
    "1e400",
    "-1",
    '"x\\n"',
    "x" * 5000,
    "{}",
    "[]",
    "true",
    '"\\u0000"',
    '{"a": {"b": [1, 2, 3]}}',
]


@pytest.mark.parametrize("key", every_key())
def test_any_bad_command_line_value_for_any_key_ends_in_one_line_or_is_accepted(key: str) -> None:
    for value in BAD_COMMAND_LINE_VALUES:
        try:
            load_config({**cdk_json_context(), f"ml-cicd.{key}": value})
        except ConfigError as error:
            message = str(error)
            assert "\n" not in message and len(message) < 1000, (key, value[:20], message[:200])
            assert message.startswith("invalid configuration ml-cicd"), message


VALID_EXAMPLES = {
    "notification_email": "ops@example.com",
    "environments.pipeline.region": "eu-west-1",
    "environments.pipeline.account": "123456789012",
}


def string_examples() -> dict[str, str]:
    """A valid example of every string-valued key: its default, or an example for keys that default to null."""
    config = load_config({})
    examples = dict(VALID_EXAMPLES)
    for key in every_key():
        value: Any = config
        for part in key.split("."):
            value = getattr(value, part, None)
        if isinstance(value, str):
            examples[key] = value
    return examples


@pytest.mark.parametrize(("key", "valid"), sorted(string_examples().items()))
def test_a_valid_string_with_a_trailing_newline_is_refused(key: str, valid: str) -> None:
    context = {"ml-cicd." + key: json.dumps(valid)}
    assert load_config(context)  # the example itself is valid
    assert f"ml-cicd.{key}" in refusal({"ml-cicd." + key: json.dumps(valid + "\n")})
