"""Stateful resources keep their logical IDs: a rename would replace (and orphan or lose) them."""

from __future__ import annotations

from tests.synthesis_fixtures import SynthesizedApp

# Changing one of these is a deliberate, reviewed decision: update this list in the same commit.
PINNED = {
    "ArtifactStoreKey28E2B6CF": "AWS::KMS::Key",
    "ArtifactStoreBucket47CE7D81": "AWS::S3::Bucket",
    "ArtifactStoreAccessLogs28327170": "AWS::S3::Bucket",
    "ReleaseStoreBucket229351E5": "AWS::S3::Bucket",
    "ModelImageRepository9C943F15": "AWS::ECR::Repository",
    "ModelRepository47788BC1": "AWS::CodeCommit::Repository",
    "ModelRegistryGroupC87F7ECA": "AWS::SageMaker::ModelPackageGroup",
    "NotificationsTopicAE679CBD": "AWS::SNS::Topic",
}


def test_stateful_resources_keep_their_logical_ids(synthesized: SynthesizedApp) -> None:
    resources = synthesized.pipeline["Resources"]
    actual = {logical_id: resources[logical_id]["Type"] for logical_id in PINNED if logical_id in resources}
    stateful = {k: r["Type"] for k, r in resources.items() if r["Type"] in set(PINNED.values())}
    assert actual == PINNED, f"stateful resources now: {stateful}"


def test_stateful_resources_are_retained_on_deletion(synthesized: SynthesizedApp) -> None:
    resources = synthesized.pipeline["Resources"]
    for logical_id in PINNED:
        if PINNED[logical_id] != "AWS::SNS::Topic":
            assert resources[logical_id].get("DeletionPolicy") == "Retain", logical_id
