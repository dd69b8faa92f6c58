"""THE CHECK "runtime permissions": every AWS call a function or a build makes in the suite is allowed by its role.

A pytest plugin (enabled in `tests/conftest.py`). Every botocore client the
suite creates gets a `before-parameter-build` handler; each call made from
project code is recorded with its principal, found from the call stack:

* `lambdas/<name>/...` runs as that function's role in the synthesized
  pipeline template; shared `lambdas/function_kit/...` code called without a
  function frame must be allowed to every pipeline function that ships it;
* `release_tools/...` runs in the Train CodeBuild project (the Build stage's
  tools make no AWS call); `release_tools/rollback.py` is run by an operator
  with their own credentials and is not judged;
* calls from tests, fixtures and the rehearsal's sandbox set-up have no
  principal of ours and are not judged.

Calls signed with CodePipeline's artifact credentials (the client
`function_kit.artifacts.artifact_s3_client` builds from the job's
`artifactCredentials`, to read input artifacts) are CodePipeline's, not the
function's: they are excluded on purpose.

After each test, its recorded calls are mapped to an IAM action and resource
ARN (`OPERATIONS`, from the IAM Service Authorization Reference) and judged by
`tests/iam_policy_evaluation.py` against the principal's resolved policy; a
denied call fails that test. Physical names CloudFormation generates (bucket,
key, roles) cannot be known offline and match any name; every name the
configuration fixes (endpoints, model package group, job prefixes, key
prefixes) is checked. Accounts and regions differ between tests' fake worlds
and are not judged.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import botocore.session
import pytest

# Set on a gate whose endpoint lives in a target account (README "Accounts"); `lambdas/` is on sys.path (conftest).
from function_kit.target_account import READER_ROLE_VARIABLE  # noqa: E402
from tests.cfn_template_world import Account, TemplateWorld
from tests.iam_policy_evaluation import Request, evaluate

__all__ = ["OPERATIONS", "RecordedCall", "judge", "principal_of", "recorded_calls"]

ROOT = Path(__file__).resolve().parent.parent
LAMBDAS, TOOLS = ROOT / "lambdas", ROOT / "release_tools"
PIPELINE_FUNCTIONS = ("evaluation_gate", "staging_gate", "promote")
NOT_JUDGED = "operator"  # release_tools.rollback: a person's credentials
ARTIFACT_CLIENT = "artifact_s3_client"

Params = Mapping[str, Any]
# (service, operation) -> (IAM action, resource ARN from the parameters; "{p}" is the ARN prefix arn:aws:<service>:*:*).
# Source: the IAM Service Authorization Reference, "Actions defined by ..." tables (resource types per action).
OPERATIONS: dict[tuple[str, str], tuple[str, Callable[[Params, str], str]]] = {
    ("s3", "GetObject"): ("s3:GetObject", lambda p, _: f"arn:aws:s3:::{p['Bucket']}/{p['Key']}"),
    ("ecr", "BatchGetImage"): ("ecr:BatchGetImage", lambda p, x: f"{x}:repository/{p['repositoryName']}"),
    ("ecr", "PutImage"): ("ecr:PutImage", lambda p, x: f"{x}:repository/{p['repositoryName']}"),
    ("s3", "HeadObject"): ("s3:GetObject", lambda p, _: f"arn:aws:s3:::{p['Bucket']}/{p['Key']}"),
    ("s3", "PutObject"): ("s3:PutObject", lambda p, _: f"arn:aws:s3:::{p['Bucket']}/{p['Key']}"),
    ("s3", "ListObjectsV2"): ("s3:ListBucket", lambda p, _: f"arn:aws:s3:::{p['Bucket']}"),
    ("sagemaker", "CreateTrainingJob"): ("sagemaker:CreateTrainingJob", lambda p, x: f"{x}:training-job/{p['TrainingJobName']}"),
    ("sagemaker", "DescribeTrainingJob"): (
        "sagemaker:DescribeTrainingJob",
        lambda p, x: f"{x}:training-job/{p['TrainingJobName']}",
    ),
    ("sagemaker", "StopTrainingJob"): ("sagemaker:StopTrainingJob", lambda p, x: f"{x}:training-job/{p['TrainingJobName']}"),
    ("sagemaker", "CreateProcessingJob"): (
        "sagemaker:CreateProcessingJob",
        lambda p, x: f"{x}:processing-job/{p['ProcessingJobName']}",
    ),
    ("sagemaker", "DescribeProcessingJob"): (
        "sagemaker:DescribeProcessingJob",
        lambda p, x: f"{x}:processing-job/{p['ProcessingJobName']}",
    ),
    ("sagemaker", "StopProcessingJob"): (
        "sagemaker:StopProcessingJob",
        lambda p, x: f"{x}:processing-job/{p['ProcessingJobName']}",
    ),
    # A new version's ARN is model-package/<group>/<version>; the version is assigned by the service.
    ("sagemaker", "CreateModelPackage"): (
        "sagemaker:CreateModelPackage",
        lambda p, x: f"{x}:model-package/{p['ModelPackageGroupName']}/1",
    ),
    ("sagemaker", "DescribeModelPackage"): (
        "sagemaker:DescribeModelPackage",
        lambda p, x: _arn_or(p["ModelPackageName"], f"{x}:model-package/"),
    ),
    ("sagemaker", "UpdateModelPackage"): (
        "sagemaker:UpdateModelPackage",
        lambda p, x: _arn_or(p["ModelPackageArn"], f"{x}:model-package/"),
    ),
    ("sagemaker", "ListModelPackages"): ("sagemaker:ListModelPackages", lambda p, x: "*"),
    ("sagemaker", "DescribeModelPackageGroup"): (
        "sagemaker:DescribeModelPackageGroup",
        lambda p, x: _arn_or(p["ModelPackageGroupName"], f"{x}:model-package-group/"),
    ),
    ("sagemaker", "DescribeEndpoint"): ("sagemaker:DescribeEndpoint", lambda p, x: f"{x}:endpoint/{p['EndpointName']}"),
    ("sagemaker", "DescribeEndpointConfig"): (
        "sagemaker:DescribeEndpointConfig",
        lambda p, x: f"{x}:endpoint-config/{p['EndpointConfigName']}",
    ),
    ("sagemaker", "DescribeModel"): ("sagemaker:DescribeModel", lambda p, x: f"{x}:model/{p['ModelName']}"),
    ("sagemaker-runtime", "InvokeEndpoint"): (
        "sagemaker:InvokeEndpoint",
        lambda p, x: f"{x.replace('sagemaker-runtime', 'sagemaker')}:endpoint/{p['EndpointName']}",
    ),
    ("codepipeline", "PutJobSuccessResult"): ("codepipeline:PutJobSuccessResult", lambda p, x: "*"),
    ("codepipeline", "PutJobFailureResult"): ("codepipeline:PutJobFailureResult", lambda p, x: "*"),
    ("codecommit", "PostCommentForPullRequest"): (
        "codecommit:PostCommentForPullRequest",
        lambda p, x: f"{x}:{p['repositoryName']}",
    ),
    # Approval rule templates have no resource-level permission; their association is on the repository.
    **{
        ("codecommit", op): (f"codecommit:{op}", lambda p, x: "*")
        for op in (
            "CreateApprovalRuleTemplate",
            "GetApprovalRuleTemplate",
            "DeleteApprovalRuleTemplate",
            "UpdateApprovalRuleTemplateContent",
            "UpdateApprovalRuleTemplateDescription",
            "UpdateApprovalRuleTemplateName",
        )
    },
    **{
        ("codecommit", op): (f"codecommit:{op}", lambda p, x: f"{x}:{p['repositoryName']}")
        for op in (
            "AssociateApprovalRuleTemplateWithRepository",
            "DisassociateApprovalRuleTemplateFromRepository",
            "ListAssociatedApprovalRuleTemplatesForRepository",
        )
    },
    # A gate reaching a target account's endpoint (README "Accounts"): authorised on the role it assumes.
    ("sts", "AssumeRole"): ("sts:AssumeRole", lambda p, x: p["RoleArn"]),
    # Authorised on the pull request's repository, which the request does not name: the project's repository.
    ("codecommit", "UpdatePullRequestApprovalState"): (
        "codecommit:UpdatePullRequestApprovalState",
        lambda p, x: f"{x}:<repository>",
    ),
    ("codecommit", "GetPullRequest"): ("codecommit:GetPullRequest", lambda p, x: f"{x}:<repository>"),
    # A build ID is <project name>:<uuid>; BatchGetBuilds is authorised on the project.
    ("codebuild", "BatchGetBuilds"): ("codebuild:BatchGetBuilds", lambda p, x: f"{x}:project/{p['ids'][0].split(':')[0]}"),
}


def _arn_or(value: str, prefix: str) -> str:
    return value if value.startswith("arn:") else prefix + value


@dataclass(frozen=True)
class RecordedCall:
    """One AWS call made from project code, and who made it."""

    principal: str  # "lambdas/<name>", "function_kit", "release_tools"
    service: str
    operation: str
    params: Params
    environment: Mapping[str, str]


_lock = threading.Lock()
_calls: list[RecordedCall] = []


def recorded_calls() -> list[RecordedCall]:
    with _lock:
        return list(_calls)


def _folder(path: Path) -> str:
    return f"{path}{os.sep}"


# Compared as strings: the check runs on every AWS call of the suite and walks pytest's deep stacks, where a
# pathlib object per frame is needless work.
_IN_REHEARSAL, _IN_LAMBDAS, _IN_TOOLS = _folder(ROOT / "rehearsal"), _folder(LAMBDAS), _folder(TOOLS)
_IN_FUNCTION_KIT = _folder(LAMBDAS / "function_kit")
_IMAGE_SCAN, _ROLLBACK, _ARTIFACTS = (
    os.fspath(p) for p in (TOOLS / "image_scan.py", TOOLS / "rollback.py", LAMBDAS / "function_kit" / "artifacts.py")
)


def principal_of(paths: Sequence[str | Path]) -> str | None:
    """The principal whose code made a call, from the call stack's file paths (innermost first)."""
    files = [os.fspath(path) for path in paths]
    if any(file.startswith(_IN_REHEARSAL) for file in files) or _IMAGE_SCAN in files:
        # The rehearsal runs with its own sandbox names; the image gate runs in the image-build project,
        # whose role this check does not map yet: neither is judged.
        return NOT_JUDGED
    function = next(
        (
            file[len(_IN_LAMBDAS) :].split(os.sep, 1)[0]
            for file in files
            if file.startswith(_IN_LAMBDAS) and not file.startswith(_IN_FUNCTION_KIT)
        ),
        None,
    )
    if function:
        return f"lambdas/{function}"
    if any(file.startswith(_IN_TOOLS) for file in files):
        return NOT_JUDGED if _ROLLBACK in files else "release_tools"
    if any(file.startswith(_IN_FUNCTION_KIT) for file in files):
        return "function_kit"
    return None


def _stack_files() -> list[str]:
    import sys

    frame, files = sys._getframe(2), []
    while frame is not None:
        files.append(frame.f_code.co_filename)
        frame = frame.f_back
    return files


def _creator_is_artifact_client() -> bool:
    import sys

    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_code.co_name == ARTIFACT_CLIENT and frame.f_code.co_filename.startswith(_IN_FUNCTION_KIT):
            return True
        frame = frame.f_back
    return False


def _on_call(service: str) -> Callable[..., None]:
    def record(params: Params, model: Any, **_: Any) -> None:
        files = _stack_files()
        if _ARTIFACTS in files:
            return  # reading input artifacts: CodePipeline's artifact credentials, whatever client a test injects
        principal = principal_of(files)
        if principal and principal != NOT_JUDGED:
            with _lock:
                _calls.append(RecordedCall(principal, service, model.name, dict(params), dict(os.environ)))

    return record


_original_create_client = botocore.session.Session.create_client


def _create_client(self: botocore.session.Session, service_name: str, *args: Any, **kwargs: Any) -> Any:
    client = _original_create_client(self, service_name, *args, **kwargs)
    if not _creator_is_artifact_client():  # CodePipeline's credentials, not the function's
        client.meta.events.register(
            f"before-parameter-build.{client.meta.service_model.service_id.hyphenize()}",
            _on_call(service_name),
            unique_id=f"runtime-permissions-{id(client)}",
        )
    return client


def install() -> None:
    """Hook every botocore client created from now on (idempotent)."""
    botocore.session.Session.create_client = _create_client  # type: ignore[method-assign]


def uninstall() -> None:
    botocore.session.Session.create_client = _original_create_client  # type: ignore[method-assign]


# -- judging ------------------------------------------------------------------


def _literal_environments(pipeline: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """Role logical id -> the literal environment variables its function is deployed with."""
    world = TemplateWorld(pipeline)
    out: dict[str, dict[str, str]] = {}
    for logical_id, resource in pipeline["Resources"].items():
        if resource["Type"] == "AWS::Lambda::Function":
            variables = resource["Properties"].get("Environment", {}).get("Variables", {})
            out[world.role_of(logical_id)] = {k: v for k, v in variables.items() if isinstance(v, str)}
    return out


def _principal_roles(pipeline: Mapping[str, Any]) -> dict[str, list[str]]:
    """Principal -> role logical ids in the synthesized pipeline template."""
    resources = pipeline["Resources"]
    world = TemplateWorld(pipeline)
    roles: dict[str, list[str]] = {}
    for logical_id, resource in resources.items():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::Lambda::Function":
            handler = str(properties.get("Handler", ""))
            name = handler.split(".")[0]
            if (LAMBDAS / name).is_dir():
                roles.setdefault(f"lambdas/{name}", []).append(world.role_of(logical_id))
        if resource["Type"] == "AWS::CodeBuild::Project" and "train.yml" in str(properties.get("Description", "")):
            roles.setdefault("release_tools", []).append(world.role_of(logical_id))
    roles["function_kit"] = [r for name in PIPELINE_FUNCTIONS for r in roles.get(f"lambdas/{name}", [])]
    return roles


def _generated_names(pipeline: Mapping[str, Any]) -> dict[str, str]:
    """Resources whose physical name CloudFormation generates: unknowable offline, so any name."""
    world = TemplateWorld(pipeline)
    return {logical_id: "*" for logical_id in world.resources if "generated" in world.physical_name(logical_id).lower()}


_ASSET_OBJECT = re.compile(r"^arn:aws:s3:::cdk-[a-z0-9]+-assets-[^/]+/[0-9a-f]{64}\.zip$")


def _unknowable_assets(statement: dict[str, Any]) -> dict[str, Any]:
    """CDK asset objects live in the account's bootstrap bucket under a content hash: any object, offline."""
    resources = statement.get("Resource")
    if resources is None:
        return statement
    listed = resources if isinstance(resources, list) else [resources]
    return {**statement, "Resource": ["arn:aws:s3:::*/*" if _ASSET_OBJECT.match(str(r)) else r for r in listed]}


# Condition keys a request sets from its parameters (Service Authorization Reference, "Condition keys" column).
REQUEST_CONTEXT: dict[tuple[str, str], Callable[[Params], dict[str, Any]]] = {
    ("sagemaker", "CreateTrainingJob"): lambda p: {"sagemaker:NetworkIsolation": bool(p.get("EnableNetworkIsolation"))},
    ("sagemaker", "CreateProcessingJob"): lambda p: {
        "sagemaker:NetworkIsolation": bool(p.get("NetworkConfig", {}).get("EnableNetworkIsolation"))
    },
}


def request_context(call: RecordedCall) -> dict[str, Any]:
    """The condition keys `call` carries (none for operations `REQUEST_CONTEXT` does not list)."""
    derive = REQUEST_CONTEXT.get((call.service, call.operation))
    return derive(call.params) if derive else {}


class Judge:
    """Judges recorded calls against the synthesized pipeline template's roles."""

    def __init__(self, pipeline: Mapping[str, Any]) -> None:
        self.world = TemplateWorld(pipeline, Account(account="*", region="*"), names=_generated_names(pipeline))
        self.roles = _principal_roles(pipeline)
        self.environments = _literal_environments(pipeline)
        repositories = [
            self.world.physical_name(k) for k, r in pipeline["Resources"].items() if r["Type"] == "AWS::CodeCommit::Repository"
        ]
        self.repository = repositories[0] if repositories else ""
        self._statements: dict[str, list[dict[str, Any]]] = {}

    def statements(self, role: str) -> list[dict[str, Any]]:
        if role not in self._statements:
            self._statements[role] = [_unknowable_assets(s) for s in self.world.role_statements(role)]
        return self._statements[role]

    def denials(self, call: RecordedCall, statements_of: Callable[[str], list[dict[str, Any]]] | None = None) -> Iterator[str]:
        statements_of = statements_of or self.statements
        key = (call.service, call.operation)
        if key not in OPERATIONS:
            yield f"{call.principal} called {call.service}:{call.operation}, which OPERATIONS does not map: add it"
            return
        action, resource_of = OPERATIONS[key]
        resource = resource_of(call.params, f"arn:aws:{call.service}:*:*").replace("<repository>", self.repository)
        roles = self.roles.get(call.principal, [])
        if not roles:
            yield f"{call.principal}: no role of the synthesized pipeline runs this code"
        for role in roles:
            if not self.deployed_configuration(call, role):
                continue
            verdict = evaluate(statements_of(role), Request(action, resource, request_context(call)))
            if not verdict.allowed:
                yield f"{call.principal} ({role}) {action} on {resource}: {verdict.reason}"

    def deployed_configuration(self, call: RecordedCall, role: str) -> bool:
        """False when a test ran the function with a configuration the platform never deploys (e.g. another
        RECORD_PREFIX, model package group or repository): such a call says nothing about the deployed role
        and is not judged."""
        literals = self.environments.get(role, {})
        repository = call.params.get("repositoryName")
        if call.service == "codecommit" and repository is not None and repository != self.repository:
            return False  # another configured `repository_name`: that deployment's role names that repository
        if call.environment.get(READER_ROLE_VARIABLE) != literals.get(READER_ROLE_VARIABLE):
            return False  # a gate configured for another account layout (or none) than this role's function
        return all(
            call.environment.get(name) == value
            for name, value in literals.items()
            if name in ("RECORD_PREFIX", "MODEL_PACKAGE_GROUP_NAME")
        )


def judge(calls: list[RecordedCall], pipeline: Mapping[str, Any]) -> list[str]:
    checker = Judge(pipeline)
    return [line for call in calls for line in checker.denials(call)]


# -- pytest wiring --------------------------------------------------------------


def pytest_configure(config: pytest.Config) -> None:
    install()


def pytest_unconfigure(config: pytest.Config) -> None:
    uninstall()


@pytest.fixture(autouse=True)
def _aws_runtime_permissions(request: pytest.FixtureRequest) -> Iterator[None]:
    """Judge the AWS calls a test's project code made against the synthesized roles (see module docstring)."""
    with _lock:
        _calls.clear()
    yield
    calls = recorded_calls()
    if not calls:
        return
    from tests.synthesis_fixtures import session_synthesis

    # Calls made with a target account's reader role configured are judged against the cross-account app.
    cross_account = any(READER_ROLE_VARIABLE in call.environment for call in calls)
    pipeline = session_synthesis(request.config, cross_account=cross_account).pipeline
    problems = judge(calls, pipeline)
    if problems:
        pytest.fail(
            "AWS calls the principal's synthesized policy does not allow:\n" + "\n".join(sorted(set(problems))), pytrace=False
        )
