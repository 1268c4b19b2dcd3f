"""Reading snapshots without restoring them: `kcb snapshots list`, `verify` and `export`, and
restore drills (a snapshot restored into a scratch topic and read back, `kcb drill` and the
supervisor's schedule), with the records of the last verification and drill. commands.py
holds the `kcb` handlers; their parsers are in cli.py with the rest of `kcb`."""
