"""The local release rehearsal: the pipeline's own code, end to end, on a laptop.

`python -m rehearsal run` trains, evaluates, gates, serves and promotes a model
with the same scripts and Lambda handlers the AWS pipeline runs, against an
in-process S3/SageMaker (moto) and a local SageMaker-style inference server.
`python -m rehearsal serve` serves a `model.tar.gz` locally.
"""

__all__: list[str] = []
