"""What `make rehearse` can check of a model repository's `Dockerfile` without a container engine.

The pipeline builds and scans the image (`buildspecs/image.yml`); locally, with
no Docker engine, the rehearsal checks that the Dockerfile parses into
instructions, starts from a base image, provides SageMaker's `train` and
`serve` entry points (copied executables or an ENTRYPOINT that dispatches on
them) and exposes port 8080, where SageMaker sends `/ping` and `/invocations`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["DockerfileReport", "check_dockerfile", "parse_instructions"]

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
        if not pending and (not line or line.startswith("#")):
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
    provided = " ".join(args for _, kind, args in instructions if kind in ("COPY", "ADD", "ENTRYPOINT", "RUN"))
    for entry in ("train", "serve"):
        if not re.search(rf"(^|[\s/\"'\[]){entry}([\s\"',\]]|$)", provided):
            report.problems.append(
                f"{path.name}: nothing provides the `{entry}` entry point (SageMaker runs `docker run <image> {entry}`)"
            )
    report.checked = [f"{len(instructions)} instructions", "FROM first", "EXPOSE 8080", "train and serve provided"]
    return report
