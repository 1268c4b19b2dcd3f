"""The restore runbook (`restore.py --runbook` / `--step`): the driver, its steps in order,
and the journal that lets an interrupted runbook resume where it stopped."""
