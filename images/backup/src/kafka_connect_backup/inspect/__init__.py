"""Reading snapshots without restoring them: `kcb snapshots list`, `verify` and `export`
(commands.py holds their sub-parsers), the records of verifications and drills, and restore
drills (a snapshot restored into a scratch topic and read back)."""
