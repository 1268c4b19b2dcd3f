"""kafka-connect-backup: supervisor and restore for encrypted, versioned Kafka topic backups.

The folders are the architecture, top-down; a module imports from its own layer and those
below, never above (make lint checks it: [tool.importlinter] in pyproject.toml):

- cli.py: the whole `kcb` command (restore.py's is restore/cli.py);
- supervisor/ (with supervisor/backup/, the snapshot step): the long-running backup;
- inspect/: reading snapshots without restoring (list, verify, export, drills);
- restore/ (with restore/runbook/): replaying a backup into Kafka;
- connect/ and tools/: Kafka Connect's REST API, and the external commands;
- config.py: the supervisor's config file;
- kafka/: talking to Kafka and its record formats;
- layout/: every name and path on the data and backup volumes;
- core/: errors and exit codes, units, durable writes, logging.
"""

__version__ = "0.1.0"
