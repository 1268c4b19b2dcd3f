"""The runbook's step names, in order (kept apart from runbook.py so that parsing the command
line does not import the Connect REST client)."""

STEPS = (
    "stop-connectors",
    "move-files",
    "recreate-topic",
    "replay",
    "reset-offsets",
    "resume-connectors",
)
