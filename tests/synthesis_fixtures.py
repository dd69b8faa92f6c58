"""The app synthesized as `app.py` does it, for template tests (imported by conftest and tests).

Each configuration variant that several modules check is synthesized once per test
run: once per session, and once for all xdist workers (the first worker to need it
synthesizes it into the run's shared temporary folder, under a lock; the others
load that result).
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    import aws_cdk as cdk

    from stacks.config import AppConfig

__all__ = [
    "CROSS_ACCOUNT",
    "AppPyRun",
    "CROSS_ACCOUNT_ENVIRONMENTS",
    "DEFAULT",
    "EXISTING_CONNECTION_ARN",
    "GITHUB_CONNECTION",
    "GITLAB_SWITCHED_OPTIONS",
    "JSII_CALL_PROBE",
    "PINNED_PIPELINE_ENVIRONMENTS",
    "ROOT",
    "SCANNED_VARIANTS",
    "SynthesizedApp",
    "Variant",
    "app_py_run",
    "cdk_json_config",
    "cdk_json_context",
    "cross_account_context",
    "github_connection_context",
    "run_directory",
    "session_synthesis",
    "shared_once",
    "synthesize",
    "validation_plugin",
    "variant_synthesis",
    "with_source",
]

ROOT = Path(__file__).resolve().parent.parent
JSII_CALL_PROBE = ROOT / "tests" / "jsii_call_probe.py"


@dataclass
class SynthesizedApp:
    """One synthesis of the real app (cdk.json context), with the cdk-nag plugin on."""

    outdir: Path
    templates: dict[str, dict[str, Any]]
    nag_error: str | None = None
    paths: dict[str, Path] = field(default_factory=dict)

    @property
    def pipeline(self) -> dict[str, Any]:
        return self.templates["pipeline"]

    @property
    def staging(self) -> dict[str, Any]:
        return self.templates["staging"]

    @property
    def production(self) -> dict[str, Any]:
        return self.templates["production"]


# Staging and production each in an account of their own, same region (README "Accounts").
CROSS_ACCOUNT_ENVIRONMENTS = {
    "pipeline": {"account": "111111111111", "region": "eu-west-1"},
    "staging": {"account": "222222222222", "region": "eu-west-1"},
    "production": {"account": "333333333333", "region": "eu-west-1"},
}

EXISTING_CONNECTION_ARN = "arn:aws:codeconnections:eu-west-1:111122223333:connection/0a1b2c3d-4e5f-6789-abcd-ef0123456789"


def cross_account_context() -> dict[str, Any]:
    """cdk.json's context with staging and production in their own accounts."""
    context = cdk_json_context()
    context["ml-cicd"] = {**context["ml-cicd"], "environments": CROSS_ACCOUNT_ENVIRONMENTS}
    return context


def with_source(source: dict[str, Any]) -> dict[str, Any]:
    """cdk.json's context releasing from `source` (a CodeConnections connection) instead of CodeCommit."""
    context = cdk_json_context()
    context["ml-cicd"] = {**context["ml-cicd"], "source": source}
    return context


BOOTSTRAP_KMS_KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
# A bucket and key an earlier deployment kept (README "Operating ml-cicd", redeploy after a teardown).
RETAINED_RELEASE_STORE = {
    "bucket": "ml-cicd-pipeline-releasestorebucket229351e5-1a2b3c4d5e6f",
    "kms_key_arn": "arn:aws:kms:us-east-1:123456789012:key/0a1b2c3d-4e5f-6789-abcd-ef0123456789",
}


# Pinned pipeline environments (`-c ml-cicd.environments.pipeline.*`): each rides on a variant that is synthesized
# anyway (with cdk-nag and CloudFormation validation: a finding refuses it): the region alone on the GitHub one,
# account and region on the GitLab one; the cross-account variant pins them too, every option at its cdk.json value.
PINNED_PIPELINE_ENVIRONMENTS = {
    "region-only": {"ml-cicd.environments.pipeline.region": "us-east-1"},  # the GitHub variant's kept store's region
    "account-and-region": {
        "ml-cicd.environments.pipeline.region": "eu-west-1",
        "ml-cicd.environments.pipeline.account": "123456789012",
    },
}


def github_connection_context() -> dict[str, Any]:
    """GitHub through a connection the stack creates and a person has completed (README "Releasing from GitHub,
    GitLab or Bitbucket", step 5: the deploy that adds the pull-request checks).

    Also a redeploy over a kept release store (`retained_release_stores`) in an account bootstrapped with
    its own key (`bootstrap_kms_key_arn`): their grants are checked on this variant's synthesized roles and
    scanned with it (cdk-nag, cfn-lint, checkov) at no extra synthesis; and the pipeline pinned to a region.
    """
    context = with_source({"repository": "acme/fraud-model", "provider_type": "GitHub", "connection_completed": True})
    context["ml-cicd"] = {
        **context["ml-cicd"],
        "retained_release_stores": [RETAINED_RELEASE_STORE],
        "bootstrap_kms_key_arn": BOOTSTRAP_KMS_KEY_ARN,
    }
    return {**context, **PINNED_PIPELINE_ENVIRONMENTS["region-only"]}


def gitlab_switched_options_context() -> dict[str, Any]:
    """GitLab through an existing connection, named by its ARN, with the optional parts switched: no approval,
    a deployment window, no bake; the pipeline pinned to an account and region."""
    context = with_source(
        {"repository": "acme/models/fraud", "connection_arn": EXISTING_CONNECTION_ARN, "provider_type": "GitLab"}
    )
    return {
        **context,
        "ml-cicd.require_manual_approval": "false",
        "ml-cicd.deployment_window": "* * 9-16 ? * MON-THU *",
        "ml-cicd.deployment_window_time_zone": "Europe/Paris",
        "ml-cicd.canary.bake_minutes": "0",
        **PINNED_PIPELINE_ENVIRONMENTS["account-and-region"],
    }


def cdk_json_context() -> dict[str, Any]:
    """The app's context exactly as `cdk synth` passes it (cdk.json)."""
    return json.loads((ROOT / "cdk.json").read_text())["context"]


def cdk_json_config() -> AppConfig:
    """The configuration the session synthesis is built from: a test that asserts a configured value reads it here."""
    from stacks.config import load_config

    return load_config(cdk_json_context())


@functools.cache
def validation_plugin() -> cdk.CloudFormationValidatePlugin:
    """CDK's CloudFormation validation plugin, built once per test process for every app it synthesizes.

    Building it compiles its rule engine in the jsii process (1 to 2 s each time);
    validating keeps no state between apps: each call judges the templates it is
    given. aws-cdk-lib itself keeps one instance for all apps of a process
    (`CloudFormationValidatePlugin._singletonInstance`), as `app.py` builds one.
    """
    import aws_cdk as cdk

    return cdk.CloudFormationValidatePlugin()


def synthesize(outdir: Path, context: dict[str, Any], *, nag: bool) -> SynthesizedApp:
    """Build the app as `app.py` does and synthesize it into `outdir`."""
    import aws_cdk as cdk

    from app import build_app

    app = cdk.App(outdir=str(outdir), context=context)
    build_app(app, nag=nag, validation=validation_plugin())
    app.synth()
    return load_synthesis(outdir)


def load_synthesis(outdir: Path, *, nag_error: str | None = None) -> SynthesizedApp:
    """The templates of a synthesis written into `outdir` (pipeline, endpoints, target stacks if any)."""
    manifest = json.loads((outdir / "manifest.json").read_text())
    (stack,) = [a for a in manifest["artifacts"].values() if a["type"] == "aws:cloudformation:stack"]
    paths = {"pipeline": outdir / stack["properties"]["templateFile"]}
    # The endpoint stacks live in a nested stage: their templates are written by the app itself.
    for stage in ("staging", "production"):
        paths[stage] = outdir / "endpoint-templates" / f"{stage}.template.json"
    # Target stacks: only when a stage deploys into another account (README "Accounts").
    for path in sorted((outdir / "target-templates").glob("*.template.json")):
        paths[f"{path.name.split('.')[0]}-target"] = path
    templates = {name: json.loads(path.read_text()) for name, path in paths.items()}
    return SynthesizedApp(outdir=outdir, templates=templates, nag_error=nag_error, paths=paths)


# -- one synthesis per variant per test run ----------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    """A configuration of the app that several test modules check.

    `keep_nag_error`: when cdk-nag refuses the app, keep the error for the nag
    test and synthesize again without the plugin so template tests still run;
    otherwise the refusal fails every test that uses the variant. `by_app_py`:
    synthesized by running `app.py` (see `DEFAULT`).
    """

    name: str
    context: Callable[[], dict[str, Any]]
    keep_nag_error: bool = True
    by_app_py: bool = False


# The default app is synthesized by `app.py` itself, as `make synth` runs it (under the jsii call probe
# tests/test_app_startup.py judges); if app.py fails, in this process, so the template tests still run.
DEFAULT = Variant("default", cdk_json_context, by_app_py=True)
CROSS_ACCOUNT = Variant("cross-account", cross_account_context)
GITHUB_CONNECTION = Variant("github-connection", github_connection_context, keep_nag_error=False)
GITLAB_SWITCHED_OPTIONS = Variant("gitlab-switched-options", gitlab_switched_options_context, keep_nag_error=False)
# The variants cfn-lint and checkov scan (tests/template_scans.py), in one run each.
SCANNED_VARIANTS = (DEFAULT, CROSS_ACCOUNT, GITHUB_CONNECTION)

_RUN_DIRECTORY = pytest.StashKey[Path]()
_SYNTHESES = pytest.StashKey[dict[str, SynthesizedApp]]()


def run_directory(config: pytest.Config) -> Path:
    """A folder shared by every process of this test run: the session's base temporary folder (the
    controller's under xdist, whose workers each get a sub-folder of it)."""
    found = config.stash.get(_RUN_DIRECTORY, None)
    if found is None:
        factory = getattr(config, "_tmp_path_factory", None)  # the session's own (pytest's tmpdir plugin)
        if factory is None:
            found = Path(tempfile.mkdtemp(prefix="ml-cicd-tests-"))
        else:
            found = factory.getbasetemp()
            found = found.parent if hasattr(config, "workerinput") else found
        config.stash[_RUN_DIRECTORY] = found
    return found


@contextmanager
def shared_once(config: pytest.Config, name: str) -> Iterator[Path]:
    """The run's folder for `name`, locked: the first process to enter creates what it holds, the others
    wait for it and find it made (check for the result file the maker writes last)."""
    folder = run_directory(config) / "shared" / name
    folder.mkdir(parents=True, exist_ok=True)
    with (folder.parent / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield folder
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def variant_synthesis(config: pytest.Config, variant: Variant) -> SynthesizedApp:
    """`variant` synthesized with cdk-nag and CloudFormation validation on, once per test run.

    Cached on the session's config, so fixtures and plugins (at any phase,
    teardown included) share the one synthesis; under xdist the workers share
    it through the run's folder. The folder's name carries a digest of the
    context, so two variants never share a synthesis.
    """
    cache = config.stash.setdefault(_SYNTHESES, {})
    if variant.name in cache:
        return cache[variant.name]
    folder, recorded = _variant_outcome(config, variant)
    if "refused" in recorded:
        raise RuntimeError(recorded["refused"])
    cache[variant.name] = load_synthesis(folder / recorded["outdir"], nag_error=recorded["nag_error"])
    return cache[variant.name]


def _variant_outcome(config: pytest.Config, variant: Variant) -> tuple[Path, dict[str, Any]]:
    """The run's folder of `variant` and what its synthesis recorded there (synthesizing it if no process has)."""
    context = variant.context()
    digest = hashlib.sha256(json.dumps([context, variant.keep_nag_error, variant.by_app_py], sort_keys=True).encode())
    with shared_once(config, f"synthesis-{variant.name}-{digest.hexdigest()[:16]}") as folder:
        outcome = folder / "outcome.json"  # written last: its presence means the synthesis is complete
        if not outcome.is_file():
            for partial in ("cdk.out", "cdk.out.nonag"):  # left by a process that was stopped halfway
                shutil.rmtree(folder / partial, ignore_errors=True)
            made = _run_app_py(folder, context) if variant.by_app_py else {}
            if made.get("app_py", {}).get("returncode") != 0:  # not by app.py, or app.py failed: in this process
                shutil.rmtree(folder / "cdk.out", ignore_errors=True)
                made.update(_synthesize_variant(folder, context, variant))
            outcome.write_text(json.dumps(made))
    return folder, json.loads(outcome.read_text())


def _run_app_py(folder: Path, context: dict[str, Any]) -> dict[str, Any]:
    """`python app.py` as `cdk synth` runs it (context and output folder from the environment), under the
    jsii call probe whose report tests/test_app_startup.py judges (`app_py_run`)."""
    environment = {**os.environ, "CDK_CONTEXT_JSON": json.dumps(context), "CDK_OUTDIR": str(folder / "cdk.out")}
    command = [sys.executable, str(JSII_CALL_PROBE), str(folder / "probe.json"), str(ROOT / "app.py")]
    ran = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=600, check=False)
    return {"app_py": {"returncode": ran.returncode, "stderr": ran.stderr[-20_000:]}, "outdir": "cdk.out", "nag_error": None}


def _synthesize_variant(folder: Path, context: dict[str, Any], variant: Variant) -> dict[str, Any]:
    """Synthesize into `folder` in this process; what happened, as `variant_synthesis` records it."""
    try:
        synthesize(folder / "cdk.out", context, nag=True)
        return {"outdir": "cdk.out", "nag_error": None}
    except RuntimeError as error:
        if "ValidationFailed" not in str(error) or not variant.keep_nag_error:
            return {"refused": str(error)}
        synthesize(folder / "cdk.out.nonag", context, nag=False)
        return {"outdir": "cdk.out.nonag", "nag_error": str(error)}


@dataclass(frozen=True)
class AppPyRun:
    """The run of `app.py` that made the default synthesis, under the jsii call probe."""

    returncode: int
    stderr: str
    report: dict[str, Any]
    outdir: Path


def app_py_run(config: pytest.Config) -> AppPyRun:
    """How `app.py` ran when it synthesized the default app for this test run (see `DEFAULT`)."""
    folder, recorded = _variant_outcome(config, DEFAULT)
    probe = folder / "probe.json"
    report = json.loads(probe.read_text()) if probe.is_file() else {}
    return AppPyRun(recorded["app_py"]["returncode"], recorded["app_py"]["stderr"], report, folder / "cdk.out")


def session_synthesis(config: pytest.Config, *, cross_account: bool = False) -> SynthesizedApp:
    """The real app, synthesized once per test run with cdk-nag and CloudFormation validation on.

    When cdk-nag refuses the app, the error is kept for the nag test and the
    app is synthesized again without the plugin so template tests still run.
    `cross_account`: staging and production in their own accounts (README "Accounts").
    """
    return variant_synthesis(config, CROSS_ACCOUNT if cross_account else DEFAULT)
