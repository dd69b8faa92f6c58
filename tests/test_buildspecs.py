"""buildspecs/ci.yml and train.yml: phases, exported variables, artifacts, the scripts they call, no secrets."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
BUILDSPECS = {name: yaml.safe_load((ROOT / "buildspecs" / name).read_text()) for name in ("ci.yml", "train.yml")}
SECRET_LOOKING = re.compile(
    r"(AKIA[0-9A-Z]{16}|aws_secret_access_key|password\s*[:=]|secret\s*[:=]|token\s*[:=]|BEGIN [A-Z ]*PRIVATE KEY)",
    re.IGNORECASE,
)


def _commands(spec: dict) -> list[str]:
    return [command for phase in spec["phases"].values() for command in phase.get("commands", [])]


@pytest.mark.parametrize("name", sorted(BUILDSPECS))
def test_shape_runtime_and_platform_fetch(name: str) -> None:
    spec = BUILDSPECS[name]
    assert spec["version"] == 0.2
    assert spec["phases"]["install"]["runtime-versions"] == {"python": 3.12}
    commands = " ".join(_commands(spec))
    for variable in ("PLATFORM_TOOLS_S3_URI", "PLATFORM_SCHEMAS_S3_URI"):
        assert f'aws s3 cp --quiet "${variable}"' in commands
    assert spec["env"]["variables"]["PYTHONPATH"] == spec["env"]["variables"]["PLATFORM_DIR"]
    assert spec["cache"]["paths"] == ["/root/.cache/pip/**/*"]


@pytest.mark.parametrize("name", sorted(BUILDSPECS))
def test_every_called_module_and_file_exists(name: str) -> None:
    called = [m for command in _commands(BUILDSPECS[name]) for m in re.findall(r"python -P -m (release_tools\.\w+)", command)]
    assert called, "the buildspec calls release_tools"
    for module in called:
        path = ROOT / (module.replace(".", "/") + ".py")
        assert path.is_file(), module
        assert 'if __name__ == "__main__":' in path.read_text(), f"{module} is not runnable with -m"
    for command in _commands(BUILDSPECS[name]):
        for requirements in re.findall(r"\$PLATFORM_DIR/release_tools/([\w.-]+\.txt)", command):
            assert (ROOT / "release_tools" / requirements).is_file()
        for schema in re.findall(r"\$PLATFORM_DIR/schemas/([\w.-]+\.json)", command):
            assert (ROOT / "schemas" / schema).is_file()


@pytest.mark.parametrize("name", sorted(BUILDSPECS))
def test_no_secret_looking_values(name: str) -> None:
    text = (ROOT / "buildspecs" / name).read_text()
    assert not SECRET_LOOKING.search(text)
    env = BUILDSPECS[name]["env"]
    assert "parameter-store" not in env and "secrets-manager" not in env
    assert not re.search(r"\b\d{12}\b", text), "no account ids in buildspecs"


def test_ci_lints_tests_validates_and_packages() -> None:
    commands = _commands(BUILDSPECS["ci.yml"])
    assert any(c.startswith("python -m ruff check") for c in commands)
    assert any(c.startswith("python -m pytest tests") for c in commands)
    assert any("release_tools.validate_policy release-policy.yaml" in c and "--out release-policy.json" in c for c in commands)
    assert any("release_tools.model_package source" in c and "--out sourcedir.tar.gz" in c for c in commands)
    assert any("release_tools.build_info --out build-info.json" in c for c in commands)
    assert any("-r requirements.txt" in c for c in commands)
    artifacts = BUILDSPECS["ci.yml"]["artifacts"]
    assert artifacts["files"] == ["**/*"] and "base-directory" not in artifacts


def test_ci_runs_lint_and_tests_before_packaging() -> None:
    phases = list(BUILDSPECS["ci.yml"]["phases"])
    assert phases.index("pre_build") < phases.index("build")


def test_train_exports_the_stage_variables_and_ships_train_output() -> None:
    spec = BUILDSPECS["train.yml"]
    assert spec["env"]["exported-variables"] == ["MODEL_DATA_URL", "MODEL_PACKAGE_ARN", "EVALUATION_URI"]
    commands = _commands(spec)
    launcher = next(c for c in commands if "release_tools.train_and_register" in c)
    assert "--out-dir train-output" in launcher and "--exports-file /tmp/train-exports.env" in launcher
    assert commands[-1] == "set -a && . /tmp/train-exports.env && set +a"
    assert spec["artifacts"] == {"base-directory": "train-output", "files": ["**/*"]}


def test_train_derives_the_policy_and_the_package_itself_before_training() -> None:
    """Train's input is the commit: a committed release-policy.json or sourcedir.tar.gz is overwritten first."""
    commands = BUILDSPECS["train.yml"]["phases"]["build"]["commands"]
    modules = [c.split()[3] for c in commands if c.startswith("python -P -m ")]
    assert modules[:3] == ["release_tools.validate_policy", "release_tools.model_package", "release_tools.train_and_register"]
    assert "--out release-policy.json" in commands[0] and "--out sourcedir.tar.gz" in commands[1]


def test_release_tools_is_importable_as_the_buildspecs_use_it() -> None:
    for module in ("release_tools.train_and_register", "release_tools.validate_policy", "release_tools.model_package"):
        assert importlib.util.find_spec(module) is not None
