"""Verify the production endpoint and promote the release's model package to champion."""
