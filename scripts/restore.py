#!/usr/bin/env python3
"""restore.py: point-in-time restore of a Kafka topic from sink files or backup snapshots.

A thin entry point; the work is done by kafka_connect_backup.restore (see `restore.py --help`).
Usage, as the original: restore.py restore_topic kafka_server "restore_files" "restore_from_time"
"""

import sys

from kafka_connect_backup.restore.cli import main

if __name__ == "__main__":
    sys.exit(main())
