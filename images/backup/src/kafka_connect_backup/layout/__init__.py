"""What lies where on the data volume (sinkPath) and the backup volume: every reserved name
(names.py, one module for all of them), sink file naming (sinkfiles.py), which directories
are snapshots (snapshot_dirs.py) and whether a snapshot is complete (snapshot_status.py)."""
