"""Check the evaluation job's ``evaluation.json`` before anything is registered.

The report must satisfy the contract's JSON Schema and describe *this* run:
the challenger's model data URL, the source revision, and the champion the
launcher handed to the job (or none). What a schema cannot say (finite numbers,
named by their JSON path; ``ci_low <= value <= ci_high``; one direction per
metric) is the contract's own reader, ``contracts.evaluation_report``, the one the
evaluation gate uses. A report that fails any check stops the Train stage; the
gate never sees it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema

from contracts.evaluation_report import EvaluationFileError, load_evaluation_json, read_evaluation_report

from .errors import ReleaseToolError

__all__ = ["EVALUATION_SCHEMA_FILE", "check_evaluation"]

EVALUATION_SCHEMA_FILE = "evaluation.v1.schema.json"


def check_evaluation(
    body: bytes,
    schemas_dir: Path,
    *,
    model_data_url: str,
    source_revision: str,
    champion_arn: str | None,
) -> dict[str, Any]:
    """Parse and validate the report; return it."""
    try:
        schema = json.loads((schemas_dir / EVALUATION_SCHEMA_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ReleaseToolError(f"{schemas_dir / EVALUATION_SCHEMA_FILE}: cannot load the schema ({exc})") from exc
    try:
        report = load_evaluation_json(body)
    except EvaluationFileError as exc:
        raise ReleaseToolError(str(exc)) from None
    error = jsonschema.exceptions.best_match(jsonschema.validators.validator_for(schema)(schema).iter_errors(report))
    if error is not None:
        path = ".".join(str(part) for part in error.absolute_path) or "(top level)"
        raise ReleaseToolError(f"evaluation.json: {path}: {error.message}")
    problems = read_evaluation_report(report).errors
    if problems:
        raise ReleaseToolError(problems[0])
    if report["model"]["model_data_url"] != model_data_url:
        raise ReleaseToolError(
            f"evaluation.json: model.model_data_url {report['model']['model_data_url']!r} is not this run's {model_data_url!r}"
        )
    if report["model"]["source_revision"] != source_revision:
        raise ReleaseToolError(
            f"evaluation.json: model.source_revision {report['model']['source_revision']!r} is not {source_revision!r}"
        )
    reported_champion = (report.get("champion") or {}).get("model_package_arn")
    if reported_champion != champion_arn:
        raise ReleaseToolError(f"evaluation.json: champion {reported_champion!r} but the launcher passed {champion_arn!r}")
    return report
