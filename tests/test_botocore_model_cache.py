"""The suite's shared botocore loader (tests/botocore_model_cache.py): installed, parsing each model once, changing nothing."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore import loaders
from moto import mock_aws

from tests import botocore_model_cache


def _client(service: str) -> Any:
    return boto3.session.Session().client(service, region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")


def test_the_suite_runs_with_the_shared_loader() -> None:
    assert botocore_model_cache.installed()


def test_a_new_session_parses_no_model_again(monkeypatch: pytest.MonkeyPatch) -> None:
    _client("sagemaker")  # parsed by now, whatever ran before
    parsed: list[str] = []
    original = loaders.JSONFileLoader.load_file

    def counting(self: loaders.JSONFileLoader, file_path: str) -> Any:
        parsed.append(file_path)
        return original(self, file_path)

    monkeypatch.setattr(loaders.JSONFileLoader, "load_file", counting)
    client = _client("sagemaker")
    assert parsed == []
    assert client.meta.service_model.operation_model("UpdateModelPackage").name == "UpdateModelPackage"


def test_moto_extras_do_not_reach_the_clients_under_test() -> None:
    """moto's loader merges its moto-extras into the models it parses (S3's metadata gets an xmlNamespace);
    the clients under test must see botocore's models. (botocore's own S3 handler rewrites an operation's
    `requestUri` on first use, in whatever loader the session has: operations are not compared.)"""
    with mock_aws():
        s3 = boto3.client("s3", region_name="eu-west-1")
        s3.create_bucket(Bucket="model-cache-check", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    shared = _client("s3").meta.service_model._service_description
    own = loaders.create_loader().load_service_model("s3", "service-2")
    assert "xmlNamespace" not in shared["metadata"]
    assert (shared["metadata"], shared["shapes"]) == (own["metadata"], own["shapes"])


def test_sessions_do_not_lengthen_the_shared_loaders_search_paths() -> None:
    """Each boto3 Session appends boto3's data folder to its loader's search paths: once is enough."""
    before = list(boto3.session.Session()._loader.search_paths)
    for _ in range(3):
        boto3.session.Session()
    assert boto3.session.Session()._loader.search_paths == before
    assert len(set(before)) == len(before)
