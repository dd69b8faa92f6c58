"""The staging gate: golden requests against the live staging endpoint (CodePipeline Lambda invoke action)."""
