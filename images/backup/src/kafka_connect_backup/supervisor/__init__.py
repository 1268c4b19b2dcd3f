"""The supervisor (`kcb supervise`): the daemon loop, the cycle (stop windows, staging,
compression, offsets and topic metadata), metrics, health, `kcb status`, scheduled drills, the
volume lock and its state file. The snapshot step itself is supervisor/backup/."""
