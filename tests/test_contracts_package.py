"""The `contracts` package: each contract written once, and every part importing that one copy."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

import contracts.champion
from contracts.evaluation_report import EvaluationFileError, load_evaluation_json, read_evaluation_report
from contracts.finite_json import first_non_finite, keep_constant
from contracts.release_record import ReleaseFileError, ReleaseRecord, release_package_arn, release_text
from evaluation_gate_fixtures import CONTRACT_EVALUATION
from release_tools.errors import ReleaseToolError
from release_tools.evaluation_check import check_evaluation

ROOT = Path(__file__).resolve().parent.parent
ARN = "arn:aws:sagemaker:eu-west-1:111122223333:model-package/example/3"


def _with(document: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    copy = json.loads(json.dumps(document))
    node = copy
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return copy


@pytest.mark.parametrize(
    ("path", "value", "spelling"),
    [
        (("metrics", "roc_auc", "value"), math.nan, "NaN"),
        (("metrics", "log_loss", "ci_high"), math.inf, "Infinity"),
        (("champion", "comparison", "deltas", "roc_auc", "ci_low"), -math.inf, "-Infinity"),
    ],
)
def test_a_non_finite_number_names_its_json_path(path: tuple[str, ...], value: float, spelling: str) -> None:
    # Python's json.dump writes NaN and Infinity by default: exactly what a data scientist's script produces.
    text = json.dumps(_with(CONTRACT_EVALUATION, path, value))
    assert spelling in text
    expected = f"evaluation.json: {'.'.join(path)} is {spelling}, not a finite number"
    with pytest.raises(EvaluationFileError) as caught:
        load_evaluation_json(text)
    assert str(caught.value) == expected


def test_the_train_stage_check_gives_the_same_message(tmp_path: Path) -> None:
    body = json.dumps(_with(CONTRACT_EVALUATION, ("metrics", "roc_auc", "value"), math.nan)).encode()
    with pytest.raises(ReleaseToolError, match=r"^evaluation\.json: metrics\.roc_auc\.value is NaN, not a finite number$"):
        check_evaluation(body, ROOT / "schemas", model_data_url="x", source_revision="y", champion_arn=None)


def test_paths_inside_lists_are_indexed() -> None:
    document = json.loads('{"predictions": [{"p": 1}, {"p": NaN}]}', parse_constant=keep_constant)
    assert first_non_finite(document) == ("predictions[1].p", "NaN")
    assert first_non_finite(json.loads("NaN", parse_constant=keep_constant)) == ("the document", "NaN")


def test_a_finite_document_loads_unchanged() -> None:
    text = json.dumps(CONTRACT_EVALUATION)
    assert load_evaluation_json(text) == CONTRACT_EVALUATION
    with pytest.raises(
        EvaluationFileError,
        match=r"^evaluation\.json: not valid JSON \(Expecting property name enclosed in double quotes at line 1, column 2\)$",
    ):
        load_evaluation_json("{")


def test_one_champion_type_for_the_report_the_registry_and_the_rehearsal() -> None:
    from rehearsal import champion_store
    from release_tools import evaluation_job, model_registry

    assert evaluation_job.Champion is model_registry.Champion is champion_store.Champion is contracts.champion.Champion
    champion = read_evaluation_report(CONTRACT_EVALUATION).champion
    assert isinstance(champion, contracts.champion.Champion) and champion.model_package_arn.startswith("arn:aws:sagemaker:")


def test_release_json_is_written_and_read_by_one_module() -> None:
    from release_tools import train_output

    assert train_output.ReleaseRecord is ReleaseRecord
    record = ReleaseRecord(
        model_package_arn=ARN,
        model_package_group_name="g",
        model_data_url="s3://b/model.tar.gz",
        source_revision="abc",
        evaluation_uri="s3://b/evaluation.json",
        training_job_name="job",
    )
    document = json.loads(json.dumps(record.to_dict()))
    assert release_package_arn(document) == ARN
    assert release_text(document, "model_package_group_name") == "g" and release_text(document, "image_uri") is None
    with pytest.raises(ReleaseFileError, match=r"^release\.json: model_package_arn: 'arn:nope' is not a SageMaker"):
        release_package_arn({**document, "model_package_arn": "arn:nope"})


def test_no_module_is_linked_in_twice() -> None:
    assert not (ROOT / "release_tools" / "model_package_metadata.py").exists()
    for moved in ("release_policy.py", "model_package_metadata.py"):
        assert not (ROOT / "lambdas" / "function_kit" / moved).exists()
    assert not (ROOT / "lambdas" / "evaluation_gate" / "evaluation_report.py").exists()


def test_each_contract_module_name_exists_once_in_the_platform_code() -> None:
    """A second `evaluation_report.py` (or `release_policy.py`...) beside the code that reads it is a copy waiting to
    drift. (`scripts/platform_floors.py` is the command that prints the floors through `contracts.platform_floors`.)"""
    functions = [path for path in (ROOT / "lambdas").iterdir() if path.is_dir() and not path.is_symlink()]
    platform = [ROOT / "stacks", ROOT / "release_tools", ROOT / "rehearsal", *functions]
    contract_modules = {path.name for path in (ROOT / "contracts").glob("*.py")} - {"__init__.py"}
    elsewhere = [
        path.relative_to(ROOT).as_posix() for folder in platform for path in folder.rglob("*.py") if path.name in contract_modules
    ]
    assert elsewhere == []
