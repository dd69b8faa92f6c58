"""Shared kit of the pipeline's Lambda functions (standard library + boto3 only).

- `pipeline_function`: the one shape of a function (read → decide → write), its job answered once;
- `clients`: the one place the functions' AWS clients are made (tests inject doubles there);
- `codepipeline_job`: parse the CodePipeline job event, answer it exactly once;
- `artifacts`: read files from the root of zipped input artifacts in S3;
- `records`: write decision records (JSON + Markdown) to S3;
- `decision_record`: the common shape of a verdict and its renderings (pure).

The contracts the functions share with the app and the release tools (release
policy, platform floors, `evaluation.json`, `release.json`, model-package
metadata) are in the top-level `contracts` package (`lambdas/contracts` links to it).

Importing this package does not import boto3: clients are built on first use (`clients`),
so a handler's cold import stays fast.
"""

from __future__ import annotations

__all__: list[str] = []
