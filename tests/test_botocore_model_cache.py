"""The suite's botocore data cache (tests/botocore_model_cache.py): installed, parsing each file once, changing nothing."""

from __future__ import annotations

import boto3
import pytest
from botocore import loaders

from tests import botocore_model_cache


def _client(service: str):
    return boto3.session.Session().client(service, region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")


def test_the_suite_runs_with_the_cache_installed() -> None:
    assert botocore_model_cache.installed()


def test_a_second_session_parses_no_file_again(monkeypatch: pytest.MonkeyPatch) -> None:
    _client("sagemaker")  # parsed by now, whatever ran before
    parsed: list[str] = []
    original = botocore_model_cache._parse_file

    def counting(self: loaders.JSONFileLoader, file_path: str):
        parsed.append(file_path)
        return original(self, file_path)

    monkeypatch.setattr(botocore_model_cache, "_parse_file", counting)
    client = _client("sagemaker")
    assert [path for path in parsed if "sagemaker" in path] == []
    assert client.meta.service_model.operation_model("UpdateModelPackage").name == "UpdateModelPackage"


def test_a_cached_model_is_the_model_botocore_parses(monkeypatch: pytest.MonkeyPatch) -> None:
    shared = _client("s3").meta.service_model._service_description
    monkeypatch.setattr(loaders.JSONFileLoader, "load_file", botocore_model_cache._parse_file)  # botocore's own
    assert loaders.Loader().load_service_model("s3", "service-2") == shared
