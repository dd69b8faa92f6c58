"""The evaluation gate: judges `evaluation.json` against the merged release policy (contract §2-§4)."""
