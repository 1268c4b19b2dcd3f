"""`kcb drill`: a restore drill of the newest snapshot (inspect/drill.py), its result kept in
`{sinkPath}/.kcb-drill.json` (inspect/drill_record.py), where the supervisor's metrics read it."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from kafka_connect_backup.config import load_config
from kafka_connect_backup.core.logs import configure_logging
from kafka_connect_backup.inspect.drill import run_drill
from kafka_connect_backup.inspect.drill_record import record_drill
from kafka_connect_backup.layout.names import DRILL_NAME, NEWEST_SNAPSHOT

EXIT_PASSED = 0  # also a drill skipped because every topic is idle (result "skipped")
EXIT_FAILED = 1  # a topic's sample did not come back exactly
EXIT_UNAVAILABLE = 2  # bad arguments, or the backup / snapshot / Kafka could not be reached


def _records(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 1_000_000:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of records from 1 to 1000000")
    return value


def _drill(args: argparse.Namespace) -> int:
    config = load_config(args.config, args.command_config)
    unknown = [t for t in args.topic or [] if t not in config.topics]
    if unknown:
        print(
            f"kcb: error: --topic {unknown[0]} is not a topic of this release "
            f"(topics: {', '.join(config.topics)})",
            file=sys.stderr,
        )
        return EXIT_UNAVAILABLE
    # One JSON event per line on stderr (drill.passed / drill.failed, the mount's events); the
    # result goes to stdout.
    configure_logging(config.log_level)
    report = run_drill(
        config,
        topics=list(dict.fromkeys(args.topic)) if args.topic else None,
        records=args.records,
        snapshot=args.snapshot,
        snapshot_root=args.snapshot_root,
    )
    record_drill(config, report)
    print(json.dumps(report.as_dict(), indent=2) if args.json else report.render())
    if report.ok:
        return EXIT_PASSED
    return EXIT_UNAVAILABLE if report.error is not None else EXIT_FAILED


def add_command(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    drill = commands.add_parser(
        "drill",
        help="restore the newest records of each topic from the newest snapshot into a "
        "scratch topic and check they come back exactly",
        description="A restore drill: for each topic of the config (or each --topic), the "
        "newest --records complete records of its sink files in the snapshot (alpha.0, the "
        "newest) are restored into a scratch topic kcb-drill-<topic>-<epoch> (1 partition, "
        "always deleted afterwards), read back, and their count and sha256 compared with the "
        "snapshot's. Every file of the topic in the snapshot is read (a damaged file fails the "
        "drill). The encrypted backup is mounted privately, as for `kcb snapshots list`. The "
        f"result is kept in {{sinkPath}}/{DRILL_NAME} (the supervisor's kcb_drill_* metrics). "
        "A topic whose files in the snapshot hold no record (an idle topic) is skipped and "
        'said so, not failed; when every topic is, the result is "skipped". '
        f"Exit codes: {EXIT_PASSED} every topic passed or was skipped; {EXIT_FAILED} a topic "
        "failed; "
        f"{EXIT_UNAVAILABLE} bad arguments, or the backup, the snapshot or Kafka could not be "
        "reached.",
        parents=parents,
    )
    drill.add_argument(
        "--topic", action="append", help="drill this topic only (repeatable; default: all)"
    )
    drill.add_argument(
        "--records",
        type=_records,
        help="records per topic (default: the config's backup.drill.records)",
    )
    drill.add_argument("--snapshot", default=NEWEST_SNAPSHOT, help="alpha.N (default alpha.0)")
    drill.add_argument(
        "--snapshot-root", type=Path, help="where alpha.N live (default: mount the backup)"
    )
    drill.add_argument("--json", action="store_true", help="machine-readable output")
    drill.set_defaults(func=_drill)
