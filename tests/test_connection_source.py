"""Releasing from GitHub, GitLab or Bitbucket through a CodeConnections connection.

The app is synthesized once per module with a connection source (the stack
creating the connection), with cdk-nag and CloudFormation validation on, and
scanned by cfn-lint and checkov like the default app; a second variant uses an
existing GitLab connection. The CodeCommit default is covered by the rest of the
suite and must not change.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from scripts.seed_repository import SeedError, seed
from scripts.synth_summary import summarize
from stacks.components.host_pull_request_checks import HOST_CHECKS_CONTROL_ACTIONS
from stacks.config import ConfigError, load_config
from stacks.seed_content import seed_files
from stacks.service_limits import status_context
from tests.cfn_template_world import TemplateWorld
from tests.iam_policy_evaluation import Request, evaluate
from tests.synthesis_fixtures import (
    EXISTING_CONNECTION_ARN,
    GITHUB_CONNECTION,
    GITLAB_SWITCHED_OPTIONS,
    SynthesizedApp,
    cdk_json_config,
    cdk_json_context,
    variant_synthesis,
)
from tests.template_scans import TemplateScans

# The synthesized variants take every value but `source` from cdk.json: tests read them from its configuration.
CONFIG = cdk_json_config()
STATUS = status_context(CONFIG.project_name)

EXISTING = EXISTING_CONNECTION_ARN


@pytest.fixture(scope="module")
def github(pytestconfig: pytest.Config) -> SynthesizedApp:
    """GitHub, the stack creating the connection; synthesized with cdk-nag (a finding raises), once per
    test run: cfn-lint and checkov scan it together with the other variants (tests/template_scans.py)."""
    return variant_synthesis(pytestconfig, GITHUB_CONNECTION)


@pytest.fixture(scope="module")
def gitlab(pytestconfig: pytest.Config) -> SynthesizedApp:
    """GitLab through an existing connection (its ARN), synthesized with cdk-nag once per test run."""
    return variant_synthesis(pytestconfig, GITLAB_SWITCHED_OPTIONS)


def resources(app: SynthesizedApp, kind: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in app.pipeline["Resources"].items() if r["Type"] == kind}


@pytest.mark.parametrize(
    ("source", "key"),
    [
        ({"repository": "acme"}, "source.repository"),
        ({"repository": "acme/x", "connection_arn": "arn:aws:codeconnections:eu-west-1:1:connection/x"}, "source.connection_arn"),
        ({"repository": "acme/x"}, "source.connection_arn"),
        ({"connection_arn": EXISTING}, "source.repository"),
        ({"provider_type": "GitHub"}, "source.repository"),
        ({"repository": "acme/x", "provider_type": "Gitea"}, "source.provider_type"),
        ({"repository": "acme/x", "provider_type": "GitLabSelfManaged"}, "source.host_url"),
        (
            {"repository": "acme/x", "provider_type": "GitLabSelfManaged", "host_url": "https://git.example.com"},
            "source.host_arn",
        ),
        ({"repository": "acme/x", "provider_type": "GitHub", "branch": "main"}, "source.branch"),
        ({"repository": "acme/x", "provider_type": "GitHub", "connection_completed": "yes"}, "source.connection_completed"),
        ({"repository": "acme/x", "connection_arn": EXISTING, "connection_completed": True}, "source.connection_completed"),
    ],
)
def test_invalid_source_settings_fail_with_one_line_naming_the_key(source: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_config({"ml-cicd": {"source": source}})
    assert str(error.value).startswith(f"invalid configuration ml-cicd.{key}:") and "\n" not in str(error.value)


def test_no_source_section_keeps_codecommit() -> None:
    assert not load_config({"ml-cicd": {}}).source.uses_connection
    assert not load_config(cdk_json_context()).source.uses_connection


def test_the_connection_source_is_triggered_by_pushes_to_the_release_branch_only(github: SynthesizedApp) -> None:
    (pipeline,) = resources(github, "AWS::CodePipeline::Pipeline").values()
    (action,) = pipeline["Properties"]["Stages"][0]["Actions"]
    assert action["ActionTypeId"] == {
        "Category": "Source",
        "Owner": "AWS",
        "Provider": "CodeStarSourceConnection",
        "Version": "1",
    }
    assert action["Configuration"]["FullRepositoryId"] == "acme/fraud-model"
    assert action["Configuration"]["BranchName"] == CONFIG.release_branch
    assert action["Configuration"]["DetectChanges"] is False  # no default trigger: the V2 trigger decides
    assert pipeline["Properties"]["Triggers"] == [
        {
            "ProviderType": "CodeStarSourceConnection",
            "GitConfiguration": {"SourceActionName": "Source", "Push": [{"Branches": {"Includes": [CONFIG.release_branch]}}]},
        }
    ]
    assert not resources(github, "AWS::Events::Rule") or all(
        "aws.codecommit" not in json.dumps(r["Properties"].get("EventPattern", {}))
        for r in resources(github, "AWS::Events::Rule").values()
    )


def test_the_full_commit_id_reaches_build_and_train(github: SynthesizedApp) -> None:
    (pipeline,) = resources(github, "AWS::CodePipeline::Pipeline").values()
    by_name = {a["Name"]: a for stage in pipeline["Properties"]["Stages"] for a in stage["Actions"]}
    for name in ("Build", "Train"):
        variables = json.loads(by_name[name]["Configuration"]["EnvironmentVariables"])
        assert {"name": "SOURCE_REVISION", "type": "PLAINTEXT", "value": "#{Source.CommitId}"} in variables


def test_no_codecommit_resources_or_codecommit_branch_protection_with_a_connection(github: SynthesizedApp) -> None:
    kinds = {r["Type"] for r in github.pipeline["Resources"].values()}
    assert "AWS::CodeCommit::Repository" not in kinds
    assert not [t for t in kinds if t.startswith("Custom::")]
    # The one managed policy is the checks' guard (no CodeCommit data scientists' policy).
    assert [k.startswith("HostPullRequestChecksGuardPolicy") for k in resources(github, "AWS::IAM::ManagedPolicy")] == [True]
    assert "RepositoryCloneUrlHttp" not in github.pipeline["Outputs"]
    assert "DataScientistPolicyArn" not in github.pipeline["Outputs"]


def test_a_created_connection_is_pending_until_completed_and_the_outputs_say_so(github: SynthesizedApp) -> None:
    (connection,) = resources(github, "AWS::CodeConnections::Connection").values()
    assert connection["Properties"]["ConnectionName"] == f"{CONFIG.project_name}-source"
    assert connection["Properties"]["ProviderType"] == "GitHub"
    outputs = github.pipeline["Outputs"]
    assert "PENDING" in outputs["CompleteTheConnection"]["Description"]
    assert outputs["PullRequestStatusName"]["Value"] == STATUS


def test_pull_request_checks_run_on_the_host_and_report_a_named_commit_status(github: SynthesizedApp) -> None:
    template = Template.from_json(github.pipeline)
    template.has_resource_properties(
        "AWS::CodeBuild::Project",
        {
            "Source": Match.object_like(
                {
                    "Type": "GITHUB",
                    "Location": "https://github.com/acme/fraud-model.git",
                    "Auth": {"Type": "CODECONNECTIONS", "Resource": {"Fn::GetAtt": [Match.any_value(), "ConnectionArn"]}},
                    "ReportBuildStatus": True,
                    "BuildStatusConfig": {"Context": STATUS},
                }
            ),
            "Triggers": {
                "Webhook": True,
                "FilterGroups": [
                    [
                        {"Type": "EVENT", "Pattern": "PULL_REQUEST_CREATED, PULL_REQUEST_UPDATED, PULL_REQUEST_REOPENED"},
                        {"Type": "BASE_REF", "Pattern": f"^refs/heads/{re.escape(CONFIG.release_branch)}$"},
                    ]
                ],
            },
        },
    )


def use_connection_statements(app: SynthesizedApp) -> list[tuple[str, dict[str, Any]]]:
    return [
        (logical_id, statement)
        for logical_id, policy in resources(app, "AWS::IAM::Policy").items()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if "onnection" in json.dumps(statement["Action"])
    ]


def connection_users(app: SynthesizedApp) -> dict[str, str]:
    """The pipeline's role and the checks build's role, by logical ID."""
    (pipeline,) = resources(app, "AWS::CodePipeline::Pipeline").values()
    (checks,) = [k for k, r in resources(app, "AWS::CodeBuild::Project").items() if k.startswith("HostPullRequestChecks")]
    world = TemplateWorld(app.pipeline)
    return {"pipeline": pipeline["Properties"]["RoleArn"]["Fn::GetAtt"][0], "checks": world.role_of(checks)}


def test_only_the_pipeline_and_the_checks_build_may_use_the_connection_and_only_that_one(github: SynthesizedApp) -> None:
    statements = use_connection_statements(github)
    roles = {
        role["Ref"]
        for logical_id, _ in statements
        for role in resources(github, "AWS::IAM::Policy")[logical_id]["Properties"]["Roles"]
    }
    assert roles == set(connection_users(github).values())
    (connection_id,) = resources(github, "AWS::CodeConnections::Connection")
    for _, statement in statements:
        assert statement["Resource"] == {"Fn::GetAtt": [connection_id, "ConnectionArn"]}
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert all(a.split(":")[1] in ("UseConnection", "GetConnection", "GetConnectionToken") for a in actions)


@pytest.mark.parametrize("variant", ["github", "gitlab"])
def test_the_connection_is_usable_for_this_repository_only_with_the_arns_own_prefix(
    variant: str, request: pytest.FixtureRequest
) -> None:
    """Judged as IAM would: the action prefix must be the ARN's ("the service prefix needs to match that of the
    resource"), and a request naming another repository is refused."""
    app: SynthesizedApp = request.getfixturevalue(variant)
    repository = {"github": "acme/fraud-model", "gitlab": "acme/models/fraud"}[variant]
    world = TemplateWorld(app.pipeline)
    connections = resources(app, "AWS::CodeConnections::Connection")
    arn = world.arn(next(iter(connections))) if connections else EXISTING
    prefix = arn.split(":")[2]
    for user, role in connection_users(app).items():
        statements = world.role_statements(role)
        use = f"{prefix}:UseConnection"
        key = f"{prefix}:FullRepositoryId"
        assert evaluate(statements, Request(use, arn, {key: repository})).allowed, user
        assert not evaluate(statements, Request(use, arn, {key: "acme/another-repository"})).allowed, user
        assert not evaluate(statements, Request(use, arn.replace(arn.split("/")[-1], "other"), {key: repository})).allowed
        other = "codestar-connections" if prefix == "codeconnections" else "codeconnections"
        assert not [s for s in statements if other in json.dumps(s.get("Action"))], user


def test_the_checks_get_their_grant_before_the_webhook_is_created(github: SynthesizedApp) -> None:
    """CloudFormation creates the webhook (CreateWebhook, through the connection) with the project: the project
    depends on a policy granting UseConnection that references nothing of the project (aws/aws-cdk#31726)."""
    (project_id,) = [k for k in resources(github, "AWS::CodeBuild::Project") if k.startswith("HostPullRequestChecks")]
    project = github.pipeline["Resources"][project_id]
    grants = [k for k, s in use_connection_statements(github) if k.startswith("HostPullRequestChecks")]
    assert grants and all(k in project.get("DependsOn", []) for k in grants)
    for k in grants:
        assert project_id not in json.dumps(github.pipeline["Resources"][k])


def test_nobody_starts_retries_or_reconfigures_the_host_checks_by_hand(github: SynthesizedApp) -> None:
    """A build started by hand can override the buildspec and still post the commit status: the guard policy
    denies it, and no role of the stack is allowed it (docs/security.md, threat model)."""
    world = TemplateWorld(github.pipeline)
    (project_id,) = [k for k in resources(github, "AWS::CodeBuild::Project") if k.startswith("HostPullRequestChecks")]
    project_arn = world.arn(project_id)
    (guard,) = resources(github, "AWS::IAM::ManagedPolicy").values()
    guard_statements = [world.resolve(s) for s in guard["Properties"]["PolicyDocument"]["Statement"]]
    admin = {"Effect": "Allow", "Action": "*", "Resource": "*"}
    for action in HOST_CHECKS_CONTROL_ACTIONS:
        assert not evaluate([admin, *guard_statements], Request(action, project_arn)).allowed, action
        for role in resources(github, "AWS::IAM::Role"):
            assert not evaluate(world.role_statements(role), Request(action, project_arn)).allowed, (role, action)
    assert github.pipeline["Outputs"]["HostChecksGuardPolicyArn"]["Value"] == {
        "Ref": next(iter(resources(github, "AWS::IAM::ManagedPolicy")))
    }


def test_an_existing_gitlab_connection_is_used_by_its_arn_and_prefix(gitlab: SynthesizedApp) -> None:
    assert not resources(gitlab, "AWS::CodeConnections::Connection")
    assert "CompleteTheConnection" not in gitlab.pipeline["Outputs"]
    Template.from_json(gitlab.pipeline).has_resource_properties(
        "AWS::CodeBuild::Project",
        {
            "Source": Match.object_like(
                {
                    "Type": "GITLAB",
                    "Location": "https://gitlab.com/acme/models/fraud.git",
                    "Auth": {"Type": "CODECONNECTIONS", "Resource": EXISTING},
                }
            )
        },
    )
    checks = [s for logical_id, s in use_connection_statements(gitlab) if logical_id.startswith("HostPullRequestChecks")]
    assert checks and all(s["Resource"] == EXISTING for s in checks)
    assert "codeconnections:UseConnection" in checks[0]["Action"]


def test_cfn_lint_and_checkov_are_clean_with_a_connection_source(github: SynthesizedApp, template_scans: TemplateScans) -> None:
    # One cfn-lint and one checkov run cover every scanned variant (tests/template_scans.py).
    findings = template_scans.cfn_lint.findings_in([github.paths["pipeline"]])
    assert findings == [] and template_scans.cfn_lint.ran_cleanly, json.dumps(findings)[-2000:]
    checkov = template_scans.checkov([github.paths["pipeline"]])
    assert checkov.resources > 30, checkov.summary()  # checkov judged this template's resources
    assert [f.line() for f in checkov.failed] == []


def test_the_synth_summary_reminds_what_to_set_on_the_host(github: SynthesizedApp) -> None:
    text = summarize(github.outdir)
    assert f"acme/fraud-model through a CodeConnections connection, branch {CONFIG.release_branch}" in text
    assert "complete it in the console" in text and f"'{STATUS}'" in text
    assert "https://<AWS::Region>.console.aws.amazon.com/codesuite/settings/connections?region=<AWS::Region>" in text
    assert "HostChecksGuardPolicyArn" in text


def git(*args: str, cwd: Path | None = None) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout


def test_seeding_pushes_the_sample_project_as_one_commit_into_an_empty_repository(tmp_path: Path) -> None:
    remote = tmp_path / "remote.git"
    git("init", "--bare", "--quiet", str(remote))
    assert seed(str(remote), branch="main") == len(seed_files())
    assert git("--git-dir", str(remote), "rev-list", "--count", "main").strip() == "1"
    pushed = sorted(git("--git-dir", str(remote), "ls-tree", "-r", "--name-only", "main").split())
    assert pushed == seed_files() and "release-policy.yaml" in pushed and "train.py" in pushed
    assert not [p for p in pushed if "__pycache__" in p or p.endswith(".pyc")]


def test_seeding_refuses_a_repository_that_is_not_empty(tmp_path: Path) -> None:
    remote = tmp_path / "remote.git"
    git("init", "--bare", "--quiet", str(remote))
    seed(str(remote), branch="main")
    with pytest.raises(SeedError, match=r"is not empty \(1 refs\)"):
        seed(str(remote), branch="main")


def test_the_seed_holds_the_same_files_as_the_codecommit_seed_asset(synthesized: SynthesizedApp) -> None:
    """One list of exclusions: the CDK asset staged for CodeCommit and make seed-repo hold the same files."""
    (repository,) = [r for r in synthesized.pipeline["Resources"].values() if r["Type"] == "AWS::CodeCommit::Repository"]
    key = repository["Properties"]["Code"]["S3"]["Key"]
    staged = synthesized.outdir / f"asset.{key.split('.')[0]}"
    assert sorted(p.relative_to(staged).as_posix() for p in staged.rglob("*") if p.is_file()) == seed_files()


def host_checks_template(source: dict[str, Any]) -> dict[str, Any]:
    """The pull-request checks of one host alone, in a stack of their own (no app synthesis)."""
    import aws_cdk as cdk
    from aws_cdk import aws_kms as kms
    from aws_cdk import aws_logs as logs

    from stacks.components.connection_source import ConnectionSource, ConnectionSourceProps
    from stacks.components.host_pull_request_checks import HostPullRequestChecks, HostPullRequestChecksProps

    config = load_config({"ml-cicd": {"source": source}})
    stack = cdk.Stack(cdk.App(), "Checks")
    connection = ConnectionSource(stack, "Connection", props=ConnectionSourceProps(project_name="p", source=config.source))
    HostPullRequestChecks(
        stack,
        "Checks",
        props=HostPullRequestChecksProps(
            project_name="p",
            connection=connection,
            release_branch="main",
            encryption_key=kms.Key(stack, "Key"),
            log_retention=logs.RetentionDays.ONE_MONTH,
        ),
    )
    return Template.from_stack(stack).to_json()


def test_bitbucket_checks_listen_only_to_the_events_bitbucket_sends() -> None:
    """CodeBuild's Bitbucket webhooks have no PULL_REQUEST_REOPENED (CDK's own Bitbucket source refuses it)."""
    legacy_arn = EXISTING.replace(":codeconnections:", ":codestar-connections:")
    template = host_checks_template(
        {"repository": "acme/fraud-model", "connection_arn": legacy_arn, "provider_type": "Bitbucket"}
    )
    (project,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::CodeBuild::Project"]
    assert project["Properties"]["Source"]["Type"] == "BITBUCKET"
    assert project["Properties"]["Source"]["Location"] == "https://bitbucket.org/acme/fraud-model.git"
    (group,) = project["Properties"]["Triggers"]["FilterGroups"]
    assert group[0] == {"Type": "EVENT", "Pattern": "PULL_REQUEST_CREATED, PULL_REQUEST_UPDATED"}
    # A connection made before the service's rename: its ARN's prefix is the actions' prefix.
    statements = [
        s
        for r in template["Resources"].values()
        if r["Type"] == "AWS::IAM::Policy"
        for s in r["Properties"]["PolicyDocument"]["Statement"]
    ]
    (use,) = [s for s in statements if "onnection" in json.dumps(s["Action"])]
    assert all(a.startswith("codestar-connections:") for a in use["Action"]) and use["Resource"] == legacy_arn
    assert use["Condition"] == {"StringEqualsIfExists": {"codestar-connections:FullRepositoryId": "acme/fraud-model"}}


def make_seed_repo(*args: str) -> subprocess.CompletedProcess[str]:
    """`make seed-repo`, with setup taken as done (`-o`): the test never reinstalls the shared environment."""
    root = Path(__file__).resolve().parents[1]
    command = ["make", "--no-print-directory", "-o", ".venv/.setup-complete", "seed-repo", *args]
    # A make of its own, also under `make test` (no parent's level, flags or jobserver).
    env = {k: v for k, v in os.environ.items() if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")}
    return subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=300, check=False)


def own_lines(stderr: str) -> list[str]:
    """What the target printed, without make's own `make: *** [...] Error 2` line."""
    return [line for line in stderr.splitlines() if not re.match(r"make(\[[0-9]+\])?: \*\*\* ", line)]


def test_make_seed_repo_seeds_an_empty_repository_and_refuses_in_one_line(tmp_path: Path) -> None:
    usage = make_seed_repo()
    assert usage.returncode == 2 and own_lines(usage.stderr) == ["usage: make seed-repo REMOTE=<git url of an empty repository>"]
    remote = tmp_path / "remote.git"
    git("init", "--bare", "--quiet", str(remote))
    seeded = make_seed_repo(f"REMOTE={remote}")
    assert seeded.returncode == 0, seeded.stderr
    assert seeded.stdout.strip() == f"seeded {remote}: {len(seed_files())} files on {CONFIG.release_branch} (one commit)"
    again = make_seed_repo(f"REMOTE={remote}")
    assert again.returncode == 2 and again.stdout == ""
    (line,) = own_lines(again.stderr)
    assert line.startswith("error: ") and "is not empty (1 refs)" in line
