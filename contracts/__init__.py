"""The contracts between the model repository, the platform and its tools, each written once.

Standard library only. Shipped in every Lambda function's code (`lambdas/contracts`
links here) and in the CodeBuild tools asset (next to `release_tools/`), and
imported by the CDK app (`stacks/`), `release_tools`, the functions, the
rehearsal and the rollback tool. The JSON Schemas in `schemas/` are the
published form of the same rules (docs/contracts.md).
"""
