"""The runbook's step names, in order: what `restore.py --step` accepts. Kept apart from
steps.py so a plain restore's start-up does not import the runbook (and its REST client)."""

STEP_NAMES = (
    "stop-connectors",
    "move-files",
    "recreate-topic",
    "replay",
    "reset-offsets",
    "resume-connectors",
)
