"""app.py's start-up: the CloudFormation validation engine is built on a second thread while the stacks are imported.

The overlap is safe only while the importing thread makes no jsii call; these
tests run the real app under a probe that sees every jsii call.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import aws_cdk as cdk
import pytest

from tests.synthesis_fixtures import JSII_CALL_PROBE, ROOT, app_py_run, cdk_json_context, validation_plugin

PROBE = JSII_CALL_PROBE
PLUGIN = "aws-cdk-lib.CloudFormationValidatePlugin"


def run_probed(script: Path, tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], dict]:
    report = tmp_path / "probe.json"
    env = {**os.environ, "CDK_CONTEXT_JSON": json.dumps(cdk_json_context()), "CDK_OUTDIR": str(tmp_path / "cdk.out")}
    result = subprocess.run(
        [sys.executable, str(PROBE), str(report), str(script)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    return result, json.loads(report.read_text())


def test_the_app_imports_the_stacks_while_the_validation_engine_is_built_and_no_jsii_calls_overlap(
    pytestconfig: pytest.Config,
) -> None:
    # The run of app.py (default context, under the probe) that made the session's default synthesis.
    run = app_py_run(pytestconfig)
    assert run.returncode == 0, run.stderr[-3000:]
    report = run.report
    assert report["contended"] == []
    (plugin,) = [create for create in report["creates"] if create["fqn"] == PLUGIN]
    assert plugin["thread"].startswith("cfn-validation")
    # The overlap happened: the stacks (the pipeline's components last) were imported while the engine was built.
    assert "stacks.components.release_pipeline" in plugin["imported_meanwhile"]
    # Everything else ran on the main thread, after the plugin.
    assert {create["thread"] for create in report["creates"] if create["fqn"] != PLUGIN} == {"MainThread"}
    assert (run.outdir / "manifest.json").is_file()


def test_the_probe_reports_a_jsii_call_made_while_another_thread_waits_for_one(tmp_path) -> None:
    """The check above can fail: a call from the main thread during the engine's build is seen."""
    script = tmp_path / "overlapping.py"
    script.write_text(
        textwrap.dedent("""
        import threading, time
        import aws_cdk as cdk
        from concurrent.futures import ThreadPoolExecutor
        from jsii._kernel.providers import process

        # Wait until the worker's create call is really in flight (however loaded the machine is).
        in_flight, probed = threading.Event(), process._NodeProcess.send

        def send(self, request, response_type):
            if getattr(request, "fqn", "").endswith("CloudFormationValidatePlugin"):
                in_flight.set()
            return probed(self, request, response_type)

        process._NodeProcess.send = send
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="cfn-validation") as pool:
            plugin = pool.submit(cdk.CloudFormationValidatePlugin)
            assert in_flight.wait(timeout=60)
            time.sleep(0.2)  # the worker now holds the pipe: the engine's build takes far longer than this
            cdk.App()
            plugin.result()
    """)
    )
    result, report = run_probed(script, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert report["contended"] == ["MainThread: CreateRequest aws-cdk-lib.App"]


def test_the_validation_plugin_main_builds_is_the_one_that_checks_the_templates() -> None:
    """build_app registers the plugin it is given; an invalid template fails the synthesis."""
    from app import build_app

    app = cdk.App(context=cdk_json_context(), outdir=None)
    stack = build_app(app, nag=False, validation=validation_plugin())  # the suite's one plugin (tests/synthesis_fixtures.py)
    cdk.CfnResource(stack, "Broken", type="AWS::S3::Bucket", properties={"NotAProperty": "x"})
    with pytest.raises(RuntimeError, match=r"ValidationFailed[\s\S]*Broken"):
        app.synth()
