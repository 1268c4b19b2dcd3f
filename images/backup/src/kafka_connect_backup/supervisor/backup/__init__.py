"""The backup step of a cycle: copy the staged files into rsnapshot's `.sync`
(sync_copy.py), rsnapshot sync and rotation with their checks (snapshot.py), runs cut short
(interrupted.py), retention, and the ownership of the files on the backup volume."""
