"""The restore pipeline (restore.py, restore/cli.py): validate the options, read the sources
(a snapshot through backup_mount.py, or files), classify and plan the lines, replay them
exactly or by time, send them (kafka/producer.py), and summarize. The full runbook is
restore/runbook/."""
