"""A commit cannot replace the platform's tools: every buildspec runs `release_tools` and `pip` as the platform's.

`python -m X` puts the current directory (the commit's checkout) ahead of
PYTHONPATH, so a checkout carrying its own `release_tools/` or `pip/` would
run its own code as the stage. The buildspecs run platform tools with
`python -P` (PYTHONSAFEPATH: "Don't prepend a potentially unsafe path to
sys.path", Python's command-line reference) and PYTHONPATH=$PLATFORM_DIR.
These tests run each such command of each buildspec, as written, in a
hostile checkout.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from stacks.components.platform_assets import TOOL_PACKAGES
from tests.synthesis_fixtures import SynthesizedApp

ROOT = Path(__file__).resolve().parent.parent
BUILDSPECS = ("ci.yml", "pull_request.yml", "train.yml", "image.yml")
PLATFORM_MODULE = re.compile(r"^python\b.*?-m (release_tools\.\w+|pip)\b")
HOSTILE = "import pathlib; pathlib.Path({marker!r}).write_text('the commit ran its own {name}')\n"


def _platform_commands(name: str) -> list[str]:
    spec = yaml.safe_load((ROOT / "buildspecs" / name).read_text(encoding="utf-8"))
    commands = [c for phase in spec["phases"].values() for c in phase.get("commands", [])]
    # Multi-line commands (image.yml's build script) are checked line by line.
    lines = [line.strip() for c in commands for line in c.splitlines()]
    return [line for line in lines if PLATFORM_MODULE.match(line) or PLATFORM_MODULE.match(_after_assignments(line))]


def _after_assignments(line: str) -> str:
    """`PYTHONPATH=... python ...` -> `python ...` (an inline environment assignment before the command)."""
    words = line.split()
    while words and "=" in words[0] and not words[0].startswith(("python", "-")):
        words.pop(0)
    return " ".join(words)


def _hostile_checkout(checkout: Path, marker: Path) -> None:
    """A commit with its own `release_tools` and `contracts` packages (every module) and `pip`, each leaving a marker."""
    for package in TOOL_PACKAGES:
        (checkout / package).mkdir(parents=True)
        for module in (ROOT / package).glob("*.py"):
            (checkout / package / module.name).write_text(HOSTILE.format(marker=str(marker), name=f"{package}/{module.name}"))
    (checkout / "pip").mkdir()
    for name in ("__init__.py", "__main__.py"):
        (checkout / "pip" / name).write_text(HOSTILE.format(marker=str(marker), name=f"pip/{name}"))
    (checkout / "sitecustomize.py").write_text(HOSTILE.format(marker=str(marker), name="sitecustomize.py"))


def _as_written(command: str) -> list[str]:
    """The command's interpreter, flags and module, with `--help` for arguments (no side effects)."""
    words = shlex.split(_after_assignments(command))
    module_at = words.index("-m") + 1
    return [sys.executable, *words[1 : module_at + 1], "--help"]


@pytest.mark.parametrize("name", BUILDSPECS)
def test_every_platform_tool_runs_with_a_safe_path(name: str) -> None:
    commands = _platform_commands(name)
    assert any("-m pip" in c for c in commands) and any("release_tools." in c for c in commands)
    for command in commands:
        assert _after_assignments(command).startswith("python -P -m "), command
    variables = yaml.safe_load((ROOT / "buildspecs" / name).read_text(encoding="utf-8"))["env"]["variables"]
    assert variables["PYTHONPATH"] == variables["PLATFORM_DIR"], "platform tools come from the platform's folder"


@pytest.mark.parametrize("name", BUILDSPECS)
def test_every_buildspec_unzips_the_tools_asset_into_the_platform_folder(name: str) -> None:
    commands = [
        c for phase in yaml.safe_load((ROOT / "buildspecs" / name).read_text())["phases"].values() for c in phase["commands"]
    ]
    assert 'unzip -q -o /tmp/release_tools.zip -d "$PLATFORM_DIR"' in commands


def _tools_asset(synthesized: SynthesizedApp) -> Path:
    """The synthesized tools asset: the folder CDK zips for `PLATFORM_TOOLS_S3_URI`."""
    (asset,) = [path for path in synthesized.outdir.glob("asset.*") if (path / "release_tools").is_dir()]
    return asset


def test_the_tools_asset_holds_release_tools_and_contracts_as_files(synthesized: SynthesizedApp) -> None:
    asset = _tools_asset(synthesized)
    assert sorted(path.name for path in asset.iterdir()) == sorted(TOOL_PACKAGES)
    assert not [path for path in asset.rglob("*") if path.is_symlink()], "the zip must hold files, not links"
    assert (asset / "contracts" / "__init__.py").is_file() and (asset / "contracts" / "model_package_metadata.py").is_file()


def test_every_function_asset_holds_the_contracts_package(synthesized: SynthesizedApp) -> None:
    functions = [path for path in synthesized.outdir.glob("asset.*") if (path / "function_kit").is_dir()]
    assert len(functions) == len([p for p in (ROOT / "lambdas").iterdir() if (p / "handler.py").is_file()])
    for asset in functions:
        assert (asset / "contracts" / "__init__.py").is_file() and not (asset / "contracts").is_symlink(), asset.name


@pytest.mark.parametrize("name", BUILDSPECS)
def test_a_checkout_with_its_own_release_tools_and_pip_changes_nothing(
    name: str, tmp_path: Path, synthesized: SynthesizedApp
) -> None:
    checkout, platform, marker = tmp_path / "checkout", tmp_path / "platform", tmp_path / "hostile-code-ran"
    _hostile_checkout(checkout, marker)
    # The platform folder as the buildspec lays it out: the tools asset unzipped into $PLATFORM_DIR.
    shutil.copytree(_tools_asset(synthesized), platform)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.update(PLATFORM_DIR=str(platform), PYTHONPATH=str(platform))
    for command in _platform_commands(name):
        ran = subprocess.run(_as_written(command), cwd=checkout, env=env, capture_output=True, text=True, timeout=120)
        assert ran.returncode == 0, f"{command}: {ran.stderr[-500:]}"
        assert "usage:" in ran.stdout.lower() or "Usage:" in ran.stdout, command
        assert not marker.exists(), f"{command} ran the commit's code: {marker.read_text()}"


def test_the_check_can_fail_without_the_safe_path(tmp_path: Path) -> None:
    """Without -P the same hostile checkout takes over: the test above would see it."""
    checkout, marker = tmp_path / "checkout", tmp_path / "hostile-code-ran"
    _hostile_checkout(checkout, marker)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONPATH"] = str(ROOT)
    subprocess.run(
        [sys.executable, "-m", "release_tools.validate_policy", "--help"], cwd=checkout, env=env, capture_output=True, timeout=60
    )
    assert marker.exists()
