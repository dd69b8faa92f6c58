"""The app synthesized as `app.py` does it, for template tests (imported by conftest and tests)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from stacks.config import AppConfig

__all__ = [
    "CROSS_ACCOUNT_ENVIRONMENTS",
    "ROOT",
    "SynthesizedApp",
    "cdk_json_config",
    "cdk_json_context",
    "cross_account_context",
    "session_synthesis",
    "synthesize",
]

ROOT = Path(__file__).resolve().parent.parent


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


def cross_account_context() -> dict[str, Any]:
    """cdk.json's context with staging and production in their own accounts."""
    context = cdk_json_context()
    context["ml-cicd"] = {**context["ml-cicd"], "environments": CROSS_ACCOUNT_ENVIRONMENTS}
    return context


def cdk_json_context() -> dict[str, Any]:
    """The app's context exactly as `cdk synth` passes it (cdk.json)."""
    return json.loads((ROOT / "cdk.json").read_text())["context"]


def cdk_json_config() -> AppConfig:
    """The configuration the session synthesis is built from: a test that asserts a configured value reads it here."""
    from stacks.config import load_config

    return load_config(cdk_json_context())


def synthesize(outdir: Path, context: dict[str, Any], *, nag: bool) -> SynthesizedApp:
    """Build the app as `app.py` does and synthesize it into `outdir`."""
    import aws_cdk as cdk

    from app import build_app

    app = cdk.App(outdir=str(outdir), context=context)
    build_app(app, nag=nag, validation=cdk.CloudFormationValidatePlugin())
    assembly = app.synth()
    templates: dict[str, dict[str, Any]] = {}
    paths: dict[str, Path] = {}
    (stack,) = assembly.stacks  # the endpoint stacks live in a nested stage
    templates["pipeline"] = stack.template
    paths["pipeline"] = Path(stack.template_full_path)
    endpoints = outdir / "endpoint-templates"
    for stage in ("staging", "production"):
        paths[stage] = endpoints / f"{stage}.template.json"
        templates[stage] = json.loads(paths[stage].read_text())
    # Target stacks: only when a stage deploys into another account (README "Accounts").
    for path in sorted((outdir / "target-templates").glob("*.template.json")):
        name = f"{path.name.split('.')[0]}-target"
        paths[name], templates[name] = path, json.loads(path.read_text())
    return SynthesizedApp(outdir=outdir, templates=templates, paths=paths)


_SYNTHESIS = pytest.StashKey[SynthesizedApp]()
_CROSS_ACCOUNT_SYNTHESIS = pytest.StashKey[SynthesizedApp]()


def session_synthesis(config: pytest.Config, *, cross_account: bool = False) -> SynthesizedApp:
    """The real app, synthesized once per session with cdk-nag and CloudFormation validation on.

    When cdk-nag refuses the app, the error is kept for the nag test and the
    app is synthesized again without the plugin so template tests still run.
    Cached on the session's config, so fixtures and plugins (at any phase,
    teardown included) share the one synthesis. `cross_account`: staging and
    production in their own accounts (README "Accounts").
    """
    key = _CROSS_ACCOUNT_SYNTHESIS if cross_account else _SYNTHESIS
    cached = config.stash.get(key, None)
    if cached is not None:
        return cached
    factory = pytest.TempPathFactory.from_config(config, _ispytest=True)
    name, context = ("cdk.out.cross-account", cross_account_context()) if cross_account else ("cdk.out", cdk_json_context())
    try:
        result = synthesize(factory.mktemp(name), context, nag=True)
    except RuntimeError as error:
        if "ValidationFailed" not in str(error):
            raise
        result = synthesize(factory.mktemp(f"{name}.nonag"), context, nag=False)
        result.nag_error = str(error)
    config.stash[key] = result
    return result
