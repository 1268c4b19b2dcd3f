"""The backup step of a cycle: copy the staged files into rsnapshot's `.sync`
(sync_copy.py), rsnapshot sync and rotation with their checks (snapshot.py), which of
backup.keep's higher levels are due (levels.py), runs cut short (interrupted.py), retention
per level (retention.py), each topic's recovery point (recovery.py), and the ownership of the
files on the backup volume."""
