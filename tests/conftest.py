"""Test-session set-up: import roots, a supported Node.js, and the app synthesized once per session."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
# `lambdas/` is the import root of the Lambda functions, as in the Lambda runtime.
for path in (ROOT, ROOT / "lambdas"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

# jsii runs on the first `node` on PATH: the venv's supported Node.js, not the machine's end-of-life one.
_VENV_BIN = str(Path(sys.executable).parent)
if not os.environ.get("PATH", "").startswith(_VENV_BIN):
    os.environ["PATH"] = _VENV_BIN + os.pathsep + os.environ.get("PATH", "")


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


def cdk_json_context() -> dict[str, Any]:
    """The app's context exactly as `cdk synth` passes it (cdk.json)."""
    return json.loads((ROOT / "cdk.json").read_text())["context"]


def synthesize(outdir: Path, context: dict[str, Any], *, nag: bool) -> SynthesizedApp:
    """Build the app as `app.py` does and synthesize it into `outdir`."""
    import aws_cdk as cdk

    from app import build_app

    app = cdk.App(outdir=str(outdir), context=context)
    build_app(app, nag=nag)
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
    return SynthesizedApp(outdir=outdir, templates=templates, paths=paths)


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> SynthesizedApp:
    """The real app, synthesized once per session with cdk-nag and CloudFormation validation on.

    When cdk-nag refuses the app, the error is kept for the nag test and the
    app is synthesized again without the plugin so template tests still run.
    """
    outdir = tmp_path_factory.mktemp("cdk.out")
    try:
        return synthesize(outdir, cdk_json_context(), nag=True)
    except RuntimeError as error:
        if "ValidationFailed" not in str(error):
            raise
        result = synthesize(tmp_path_factory.mktemp("cdk.out.nonag"), cdk_json_context(), nag=False)
        result.nag_error = str(error)
        return result
