"""Model-package metadata: the one sanitiser, proven against SageMaker's own constraints.

The constraints come from botocore's service model (the Java-style `\\p{L}`
patterns compile with `regex`); the sanitiser itself is standard library only
(`contracts/model_package_metadata.py`, shipped to the functions and the release tools).
"""

from __future__ import annotations

import filecmp
from pathlib import Path
from typing import Any

import botocore.session
import pytest
import regex
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.model_package_metadata import (
    MAX_ENTRIES,
    MAX_KEY_CHARS,
    MAX_VALUE_CHARS,
    MetadataError,
    customer_metadata,
    metadata_key,
    metadata_value,
)
from rehearsal.aws_request_constraints import check_request
from tests.synthesis_fixtures import ROOT, SynthesizedApp

SAGEMAKER = botocore.session.get_session().get_service_model("sagemaker")
UPDATE = SAGEMAKER.operation_model("UpdateModelPackage")
METADATA = UPDATE.input_shape.members["CustomerMetadataProperties"]
ARN = "arn:aws:sagemaker:eu-west-1:111122223333:model-package/ml-cicd-models/7"


def _fullmatch(shape: Any, text: str) -> bool:
    return regex.fullmatch(shape.metadata["pattern"], text) is not None


def test_the_limits_are_the_service_models() -> None:
    assert (METADATA.metadata["max"], METADATA.key.metadata["max"], METADATA.value.metadata["max"]) == (
        MAX_ENTRIES,
        MAX_KEY_CHARS,
        MAX_VALUE_CHARS,
    )
    create = SAGEMAKER.operation_model("CreateModelPackage").input_shape.members["CustomerMetadataProperties"]
    assert create.value.metadata == METADATA.value.metadata and create.key.metadata == METADATA.key.metadata


def test_promoted_by_is_refused_as_written_and_accepted_sanitised() -> None:
    promoted_by = "CodePipeline execution 0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d (job 11111111-2222-3333-4444-555555555555)"
    assert not _fullmatch(METADATA.value, promoted_by)
    value = metadata_value(promoted_by)
    assert value == ("CodePipeline execution 0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d job 11111111-2222-3333-4444-555555555555")
    assert check_request(UPDATE, {"ModelPackageArn": ARN, "CustomerMetadataProperties": {"promoted_by": value}}) == []


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=0, max_size=400))
def test_every_value_is_accepted_by_the_service_pattern(text: str) -> None:
    value = metadata_value(text)
    assert len(value) <= MAX_VALUE_CHARS
    assert value == "" or _fullmatch(METADATA.value, value)
    assert metadata_value(value) == value  # idempotent: metadata read back and written again is unchanged


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(categories=["L", "N", "Zs"]) | st.sampled_from("_.:/=+-@"), max_size=256))
def test_an_accepted_value_is_kept_as_it_is(text: str) -> None:
    normal = " ".join(text.split(" ")).strip()
    if normal == text and "  " not in text:
        assert metadata_value(text) == text


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=128), st.text(max_size=300), max_size=MAX_ENTRIES))
def test_customer_metadata_is_a_valid_request_or_a_one_line_error(entries: dict[str, str]) -> None:
    try:
        properties = customer_metadata(entries)
    except MetadataError as error:
        assert "\n" not in str(error)
        return
    request: dict[str, Any] = {"ModelPackageArn": ARN}
    if properties:
        request["CustomerMetadataProperties"] = properties
    assert check_request(UPDATE, request) == []


def test_more_than_fifty_entries_fail_with_one_line() -> None:
    with pytest.raises(MetadataError, match="51 entries; SageMaker allows 50"):
        customer_metadata({f"key_{i}": "v" for i in range(51)})


def test_a_key_is_never_cut() -> None:
    with pytest.raises(MetadataError, match="not 1-128 usable characters"):
        metadata_key("k" * 129)
    with pytest.raises(MetadataError):
        metadata_key("(#)")


def test_one_module_shipped_to_the_functions_and_the_release_tools(synthesized: SynthesizedApp) -> None:
    source = ROOT / "contracts" / "model_package_metadata.py"
    assert not (ROOT / "release_tools" / "model_package_metadata.py").exists()
    assert not (ROOT / "lambdas" / "function_kit" / "model_package_metadata.py").exists()
    staged = [
        p
        for p in Path(synthesized.outdir).glob("asset.*/contracts/model_package_metadata.py")
        if (p.parent.parent / "release_tools" / "rollback.py").is_file() or (p.parent.parent / "promote").is_dir()
    ]
    assert staged, "the release tools asset must carry the module"
    assert all(not p.is_symlink() and filecmp.cmp(p, source, shallow=False) for p in staged)
