"""The restore pipeline: sources, filter, producer, runbook."""
