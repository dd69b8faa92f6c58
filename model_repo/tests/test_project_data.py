"""The committed data splits are what prepare_data.py produces, and the manifest is right."""

from __future__ import annotations

import json
from pathlib import Path

import prepare_data
from dataset import file_sha256, load_labelled_csv

DATA_DIR = Path(prepare_data.__file__).resolve().parent / "data"


def test_prepare_data_reproduces_the_committed_files_byte_for_byte(tmp_path: Path) -> None:
    manifest = prepare_data.write_splits(tmp_path)
    for name in manifest["files"]:
        assert (tmp_path / name).read_bytes() == (DATA_DIR / name).read_bytes(), name
    assert json.loads((DATA_DIR / "manifest.json").read_text()) == manifest


def test_manifest_records_rows_and_sha256_of_every_split() -> None:
    manifest = json.loads((DATA_DIR / "manifest.json").read_text())
    assert {name: entry["rows"] for name, entry in manifest["files"].items()} == {
        "train.csv": 318,
        "validation.csv": 80,
        "holdout.csv": 171,
    }
    for name, entry in manifest["files"].items():
        assert file_sha256(DATA_DIR / name) == entry["sha256"]
        features, target = load_labelled_csv(DATA_DIR / name)
        assert features.shape == (entry["rows"], 30)
        assert int(target.sum()) == entry["positives"]


def test_splits_are_disjoint_and_cover_the_data_set() -> None:
    rows = set()
    for name in ("train.csv", "validation.csv", "holdout.csv"):
        lines = (DATA_DIR / name).read_text().splitlines()[1:]
        assert rows.isdisjoint(lines)
        rows.update(lines)
    assert len(rows) == 569
