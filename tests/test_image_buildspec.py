"""`buildspecs/image.yml`'s build script, run as written by bash with fake `aws`, `docker` and `python`.

The fakes log every call and fail where a test asks them to, so these tests
show what CodeBuild would see: a failed login, build or push stops the script
with one line naming the failed command; a re-run of a commit whose image is
already in the repository (immutable tags) judges that image and says so.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from stacks.components.build_project import BUILDSPEC_DIR

DIGEST = "sha256:" + "cd" * 32
REPOSITORY_URI = "111122223333.dkr.ecr.eu-west-1.amazonaws.com/ml-cicd-model"

FAKE_AWS = f"""#!/bin/bash
echo "aws $*" >> "$FAKE_DIR/calls"
case "$1 $2" in
  "ecr get-login-password")
    [ -n "${{FAKE_LOGIN_FAILS:-}}" ] && {{ echo "Unable to locate credentials" >&2; exit 253; }}
    echo token ;;
  "ecr describe-images")
    if [ -f "$FAKE_DIR/pushed" ]; then echo "{DIGEST}"
    elif [ -n "${{FAKE_DESCRIBE_DENIED:-}}" ]; then
      printf '\\nAn error occurred (AccessDeniedException) when calling the DescribeImages operation: denied\\n' >&2; exit 254
    else
      printf '\\nAn error occurred (ImageNotFoundException) when calling the DescribeImages operation: no image\\n' >&2; exit 254
    fi ;;
  *) echo "unexpected aws call" >&2; exit 2 ;;
esac
"""

FAKE_DOCKER = """#!/bin/bash
echo "docker $*" >> "$FAKE_DIR/calls"
case "$1" in
  login) cat > /dev/null; [ -z "${FAKE_LOGIN_FAILS:-}" ] || exit 1 ;;
  build) [ -z "${FAKE_BUILD_FAILS:-}" ] || { echo "failed to solve: base image not found" >&2; exit 1; } ;;
  push)
    [ -f "$FAKE_DIR/pushed" ] && { echo "tag invalid: the image tag already exists (immutable)" >&2; exit 1; }
    [ -z "${FAKE_PUSH_FAILS:-}" ] || { echo "denied: not authorized" >&2; exit 1; }
    touch "$FAKE_DIR/pushed" ;;
esac
"""

FAKE_PYTHON = """#!/bin/bash
echo "python $*" >> "$FAKE_DIR/calls"
while [ $# -gt 0 ]; do [ "$1" = --out ] && echo '{"image_uri": "judged"}' > "$2"; shift; done
"""


def build_script() -> str:
    spec = yaml.safe_load((BUILDSPEC_DIR / "image.yml").read_text(encoding="utf-8"))
    return "\n".join(spec["phases"]["build"]["commands"])


def run_build(tmp_path: Path, *, dockerfile: bool = True, pushed: bool = False, **fail: str) -> tuple[int, str, list[str]]:
    """Run the build phase in a checkout; (exit status, stderr's last line, the calls made)."""
    fakes, checkout, fake_dir = tmp_path / "bin", tmp_path / "checkout", tmp_path / "fake"
    for folder in (fakes, checkout / "image-output", fake_dir):
        folder.mkdir(parents=True, exist_ok=True)
    for name, text in (("aws", FAKE_AWS), ("docker", FAKE_DOCKER), ("python", FAKE_PYTHON)):
        (fakes / name).write_text(text)
        (fakes / name).chmod(0o755)
    (fake_dir / "calls").write_text("")
    if dockerfile:
        (checkout / "Dockerfile").write_text("FROM scratch\n")
    if pushed:
        (fake_dir / "pushed").touch()
    env = {
        "PATH": f"{fakes}:/usr/bin:/bin",
        "FAKE_DIR": str(fake_dir),
        "CODEBUILD_SRC_DIR": str(checkout),
        "PLATFORM_DIR": "/tmp/platform",
        "IMAGE_REPOSITORY_NAME": "ml-cicd-model",
        "IMAGE_REPOSITORY_URI": REPOSITORY_URI,
        "SOURCE_REVISION": "0123abcd",
        **fail,
    }
    run = subprocess.run(["bash", "-c", build_script()], cwd=checkout, env=env, capture_output=True, text=True, timeout=60)
    last = (run.stderr.strip().splitlines() or [""])[-1]
    return run.returncode, last, (fake_dir / "calls").read_text().splitlines()


def test_a_first_build_logs_in_builds_pushes_and_judges_the_pushed_digest(tmp_path: Path) -> None:
    status, _, calls = run_build(tmp_path)
    assert status == 0
    words = [call.split()[:3] for call in calls]
    assert words[0] == ["aws", "ecr", "describe-images"]
    # `aws ecr get-login-password | docker login`: the two sides of the pipe run at the same time.
    assert sorted(words[1:3]) == [["aws", "ecr", "get-login-password"], ["docker", "login", "--username"]]
    assert [w[:2] for w in words[3:]] == [["docker", "build"], ["docker", "push"], ["aws", "ecr"], ["python", "-P"]]
    assert f"--image-uri {REPOSITORY_URI}@{DIGEST}" in calls[-1]


@pytest.mark.parametrize(
    ("failure", "failed_command", "calls_made"),
    [
        ("FAKE_LOGIN_FAILS", "docker login --username AWS", 3),
        ("FAKE_BUILD_FAILS", "docker build --pull", 4),
        ("FAKE_PUSH_FAILS", "docker push", 5),
    ],
)
def test_a_failed_login_build_or_push_stops_with_one_line_naming_it(
    tmp_path: Path, failure: str, failed_command: str, calls_made: int
) -> None:
    status, last, calls = run_build(tmp_path, **{failure: "1"})
    assert status != 0
    assert last.startswith("image build failed: exit status ") and failed_command in last, last
    assert len(calls) == calls_made and not any(call.startswith("python") for call in calls)


def test_a_re_run_of_the_same_commit_judges_the_image_pushed_first_and_says_so(tmp_path: Path) -> None:
    status, _, calls = run_build(tmp_path, pushed=True)
    assert status == 0
    assert not any(call.startswith("docker") for call in calls), "an immutable tag is never pushed twice"
    assert calls[-1].startswith("python -P -m release_tools.image_scan") and DIGEST in calls[-1]
    run = subprocess.run(["grep", "-c", "not rebuilt (tags are immutable)"], input=build_script(), capture_output=True, text=True)
    assert run.stdout.strip() == "1"


def test_describe_images_failing_otherwise_fails_closed_with_one_line(tmp_path: Path) -> None:
    status, last, calls = run_build(tmp_path, FAKE_DESCRIBE_DENIED="1")
    assert status == 1
    assert last.startswith("image build failed: DescribeImages:") and "AccessDeniedException" in last
    assert not any(call.startswith(("docker", "python")) for call in calls)


def test_without_a_dockerfile_nothing_is_built_and_the_release_uses_the_prebuilt_image(tmp_path: Path) -> None:
    status, _, calls = run_build(tmp_path, dockerfile=False)
    assert status == 0 and calls == []
    image = json.loads((tmp_path / "checkout" / "image-output" / "image.json").read_text())
    assert image == {"image_uri": None}


def test_the_scripts_shell_options_stay_inside_its_subshell() -> None:
    """CodeBuild 0.2 runs a phase's commands in one shell: `set -e` must not leak into the commands after it."""
    script = build_script()
    assert script.startswith("(\nset -euo pipefail\n") and script.rstrip().endswith(")")
