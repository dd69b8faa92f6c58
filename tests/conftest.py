"""Test-session set-up: import roots, a supported Node.js, and the app synthesized once per session."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# `lambdas/` is the import root of the Lambda functions, as in the Lambda runtime.
for path in (ROOT, ROOT / "lambdas"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from rehearsal import aws_request_constraints  # noqa: E402
from tests import botocore_model_cache  # noqa: E402
from tests.synthesis_fixtures import SynthesizedApp, session_synthesis  # noqa: E402
from tests.template_scans import TemplateScans, session_scans  # noqa: E402

# Every AWS request the suite makes is checked against the service model's constraints (pattern, max, enum...).
aws_request_constraints.install()
# botocore's service models are parsed once per test process, not once per session (tests/botocore_model_cache.py).
botocore_model_cache.install()

# Every AWS call a function or a build makes in the suite must be allowed by its synthesized role.
# The whole suite runs on one xdist worker per core (tests/parallel_run.py).
pytest_plugins = ["tests.aws_runtime_permissions", "tests.parallel_run"]

# jsii runs on the first `node` on PATH: the venv's supported Node.js, not the machine's end-of-life one.
_VENV_BIN = str(Path(sys.executable).parent)
if not os.environ.get("PATH", "").startswith(_VENV_BIN):
    os.environ["PATH"] = _VENV_BIN + os.pathsep + os.environ.get("PATH", "")


@pytest.fixture(scope="session")
def synthesized(pytestconfig: pytest.Config) -> SynthesizedApp:
    """The real app, synthesized once per session (see `session_synthesis`)."""
    return session_synthesis(pytestconfig)


@pytest.fixture(scope="session")
def synthesized_cross_account(pytestconfig: pytest.Config) -> SynthesizedApp:
    """The app with staging and production in their own accounts, synthesized once per session."""
    return session_synthesis(pytestconfig, cross_account=True)


@pytest.fixture(scope="session")
def template_scans(pytestconfig: pytest.Config) -> TemplateScans:
    """cfn-lint and checkov over every scanned variant's templates, one run each per test run."""
    return session_scans(pytestconfig)


@pytest.fixture(autouse=True)
def _aws_requests_satisfy_service_constraints() -> Iterator[None]:
    """Fail the test that made an AWS request the service would refuse, even if the code swallowed the error."""
    aws_request_constraints.take_violations()
    yield
    violations = aws_request_constraints.take_violations()
    if violations:
        pytest.fail("AWS request constraints violated: " + "; ".join(map(str, violations)), pytrace=False)
