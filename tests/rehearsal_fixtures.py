"""Test helpers for the rehearsal: a tiny model archive for exercising the server.

The archive holds a `code/inference.py` written here, with the four SageMaker
handler functions and a deliberate model failure, so every status code of the
server can be provoked. The real model's archive is tested separately.
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import Any

__all__ = ["TOY_INFERENCE_SOURCE", "runtime_client", "write_toy_model_archive"]

TOY_INFERENCE_SOURCE = """
import json

def model_fn(model_dir):
    with open(f"{model_dir}/weights.json") as handle:
        return json.load(handle)

def input_fn(body, content_type):
    if content_type == "application/json":
        try:
            rows = json.loads(body)["instances"]
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(f"expected {{'instances': [[...]]}}: {error}") from None
    else:
        rows = [[float(cell) for cell in line.split(",")] for line in body.splitlines() if line.strip()]
    if not rows:
        raise ValueError("no rows")
    return rows

def predict_fn(rows, model):
    if rows[0][0] == 666:
        raise RuntimeError("the model exploded")
    return [sum(w * x for w, x in zip(model["weights"], row)) for row in rows]

def output_fn(scores, accept):
    if accept == "text/csv":
        return "\\n".join(f"{int(s > 0)},{s}" for s in scores) + "\\n"
    return json.dumps({"predictions": [{"label": int(s > 0), "score": s} for s in scores]}), accept
"""


def write_toy_model_archive(directory: Path) -> Path:
    """Write `model.tar.gz` (weights at the root, code under `code/`) and return its path."""
    archive = directory / "model.tar.gz"
    members = {
        "weights.json": json.dumps({"weights": [1.0, -1.0]}).encode(),
        "code/inference.py": TOY_INFERENCE_SOURCE.encode(),
    }
    with tarfile.open(archive, "w:gz") as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return archive


def runtime_client(url: str) -> Any:
    """A boto3 `sagemaker-runtime` client aimed at a local server, fake credentials, no retries."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "sagemaker-runtime",
        endpoint_url=url,
        region_name="eu-west-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"mode": "standard", "max_attempts": 1}),
    )
