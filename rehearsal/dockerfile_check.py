"""What `make rehearse` can check of a model repository's `Dockerfile` without a container engine.

The pipeline builds and scans the image (`buildspecs/image.yml`); locally, with
no Docker engine, the rehearsal checks that the Dockerfile parses into
instructions, starts from a base image, provides SageMaker's `train` and
`serve` entry points (copied executables or an ENTRYPOINT that dispatches on
them) and exposes port 8080, where SageMaker sends `/ping` and `/invocations`.

An entry point counts as provided when a COPY or ADD puts a file named
`train`/`serve` (or a build-context folder holding one, as in AWS's
`COPY <folder> /opt/program` layout) into a folder on the image's PATH (the
usual Linux folders plus what `ENV PATH` adds), or when an ENTRYPOINT or RUN
names it. Comment and empty lines inside a `\\` continuation are skipped, as
Docker does ("Comment lines are removed before the Dockerfile instructions are
executed", Dockerfile reference).
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

__all__ = ["DockerfileReport", "check_dockerfile", "dockerfile_step_detail", "parse_instructions"]

_ENTRY_POINTS = ("train", "serve")
# Folders on PATH in the usual base images (Debian, Ubuntu, Amazon Linux, python:*) before any `ENV PATH`.
_DEFAULT_PATH = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")

_INSTRUCTION = re.compile(r"^([A-Za-z]+)\s+(.*)$", re.S)
_KNOWN = {
    "ADD",
    "ARG",
    "CMD",
    "COPY",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "FROM",
    "HEALTHCHECK",
    "LABEL",
    "MAINTAINER",
    "ONBUILD",
    "RUN",
    "SHELL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
}
PIPELINE_NOTE = "the image itself is built, pushed and scanned in the pipeline's Build stage (no container engine here)"


@dataclass
class DockerfileReport:
    """Problems found (each one line) and what was checked."""

    problems: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems


def parse_instructions(text: str) -> list[tuple[int, str, str]]:
    """(line number, INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    instructions: list[tuple[int, str, str]] = []
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):  # also inside a continuation: Docker drops them there too
            continue
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        whole, pending = pending + line, ""
        match = _INSTRUCTION.match(whole)
        if match is None:
            raise ValueError(f"Dockerfile line {start}: not an instruction: {whole[:60]!r}")
        instructions.append((start, match.group(1).upper(), match.group(2).strip()))
    if pending:
        raise ValueError(f"Dockerfile line {start}: a continuation never ends")
    return instructions


def check_dockerfile(path: Path) -> DockerfileReport:
    """Check the contract SageMaker's container runtime relies on."""
    report = DockerfileReport()
    try:
        instructions = parse_instructions(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        report.problems.append(f"{path.name}: {error}")
        return report
    kinds = [kind for _, kind, _ in instructions]
    unknown = [f"line {number}: {kind}" for number, kind, _ in instructions if kind not in _KNOWN]
    if unknown:
        report.problems.append(f"{path.name}: unknown instructions ({', '.join(unknown[:3])})")
    first = next((kind for kind in kinds if kind != "ARG"), None)
    if first != "FROM":
        report.problems.append(f"{path.name}: the first instruction (after ARG) must be FROM, not {first}")
    exposed = {port.split("/")[0] for _, kind, args in instructions if kind == "EXPOSE" for port in args.split()}
    if "8080" not in exposed:
        report.problems.append(f"{path.name}: EXPOSE 8080 is missing (SageMaker sends /ping and /invocations there)")
    report.problems += [f"{path.name}: {problem}" for problem in _entry_point_problems(instructions, path.parent)]
    report.checked = [f"{len(instructions)} instructions", "FROM first", "EXPOSE 8080", "train and serve provided"]
    return report


def _words(arguments: str) -> list[str]:
    """An instruction's arguments: the JSON (exec) form or shell words."""
    if arguments.startswith("["):
        try:
            return [str(word) for word in json.loads(arguments)]
        except ValueError:
            pass
    try:
        return shlex.split(arguments)
    except ValueError:
        return arguments.split()


def _path_folders(instructions: Iterable[tuple[int, str, str]]) -> set[str]:
    """The folders on the image's PATH: the usual ones plus every `ENV PATH` entry."""
    folders = set(_DEFAULT_PATH)
    for _, kind, arguments in instructions:
        if kind != "ENV":
            continue
        words = _words(arguments)
        values = [w[5:] for w in words if w.startswith("PATH=")] or (words[1:2] if words[:1] == ["PATH"] else [])
        folders |= {entry.rstrip("/") for value in values for entry in value.split(":") if entry and "$" not in entry}
    return folders


def _copied_entry_points(instructions: Iterable[tuple[int, str, str]], context: Path) -> dict[str, set[str]]:
    """For `train` and `serve`: the image folders a COPY or ADD puts a file of that name in."""
    found: dict[str, set[str]] = {entry: set() for entry in _ENTRY_POINTS}
    for _, kind, arguments in instructions:
        words = [word for word in _words(arguments) if not word.startswith("--")]
        if kind not in ("COPY", "ADD") or len(words) < 2:
            continue
        *sources, destination = words
        target = PurePosixPath(destination)
        # "If <dest> doesn't end with a trailing slash, it will be considered a regular file" (Dockerfile reference)
        into_folder = destination.endswith("/") or len(sources) > 1 or target.name == ""  # ".": the WORKDIR
        for source in sources:
            folder = context / source.lstrip("/")
            if folder.is_dir():  # COPY <folder> <destination>: the folder's files land in the destination
                landed = [(entry, str(target)) for entry in _ENTRY_POINTS if (folder / entry).is_file()]
            elif into_folder:
                landed = [(PurePosixPath(source).name, str(target))]
            else:
                landed = [(target.name, str(target.parent))]
            for name, image_folder in landed:
                found.get(name, set()).add(image_folder)
    return found


def _entry_point_problems(instructions: list[tuple[int, str, str]], context: Path) -> list[str]:
    """What SageMaker's `docker run <image> train|serve` would not find."""
    named = " ".join(args for _, kind, args in instructions if kind in ("ENTRYPOINT", "RUN"))
    copied = _copied_entry_points(instructions, context)
    on_path = _path_folders(instructions)
    problems = []
    for entry in _ENTRY_POINTS:
        if re.search(rf"(^|[\s/\"'\[]){entry}([\s\"',\]]|$)", named):
            continue
        folders = copied[entry]
        if not folders:
            problems.append(f"nothing provides the `{entry}` entry point (SageMaker runs `docker run <image> {entry}`)")
        elif not any(folder in on_path or not folder.startswith("/") for folder in folders):
            where = ", ".join(sorted(folders))
            problems.append(
                f'`{entry}` is copied to {where}, which is not on PATH (add ENV PATH="{min(folders)}:${{PATH}}"; '
                f"SageMaker runs `docker run <image> {entry}`)"
            )
    return problems


def dockerfile_step_detail(repository: Path) -> str | None:
    """The rehearsal's Build-stage line for the repository's Dockerfile (None without one).

    Raises ValueError with one line (the problems and where the image is really
    built) when the Dockerfile would not work as SageMaker's container contract needs.
    """
    dockerfile = repository / "Dockerfile"
    if not dockerfile.is_file():
        return None
    report = check_dockerfile(dockerfile)
    if not report.passed:
        raise ValueError(f"{'; '.join(report.problems)} ({PIPELINE_NOTE})")
    return f"Dockerfile: {', '.join(report.checked)} ({PIPELINE_NOTE})"
