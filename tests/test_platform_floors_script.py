"""`make rehearse` hands the gates the same floors the deployed functions get."""

from __future__ import annotations

import json

import pytest

from scripts.platform_floors import main
from stacks.config import load_config
from tests.synthesis_fixtures import ROOT, cdk_json_context


def test_prints_the_validated_floors_of_cdk_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(ROOT / "cdk.json")]) == 0
    assert json.loads(capsys.readouterr().out) == load_config(cdk_json_context()).platform_floors


def test_refuses_invalid_floors_in_one_line(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "cdk.json"
    bad.write_text(json.dumps({"context": {"ml-cicd": {"platform_floors": {"champion": {"roc_auc": {"max_regression": -1}}}}}}))
    assert main([str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert (
        err.startswith("error: invalid configuration ml-cicd.platform_floors.champion.roc_auc.max_regression") and "\n" not in err
    )
