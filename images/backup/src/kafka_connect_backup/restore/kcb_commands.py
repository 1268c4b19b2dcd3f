"""Restore's subcommands of `kcb` (registered by kafka_connect_backup.cli): `snapshots list`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from kafka_connect_backup.config import load_config
from kafka_connect_backup.restore.snapshots import describe_snapshots, render, to_json
from kafka_connect_backup.sinkfiles import connector_name


def _list(args: argparse.Namespace) -> int:
    root: Path | None = args.snapshot_root
    connector = None
    if root is None or args.topic:
        config = load_config(args.config) if root is None or not args.sink_name else None
        if root is None:
            assert config is not None
            root = config.backup.snapshot_root
        if args.topic:
            sink_name = args.sink_name or (config.sink_name if config else "")
            connector = connector_name(args.topic, sink_name)
    if not root.is_dir():
        print(f"kcb: snapshot root {root} does not exist: is the backup mounted?", file=sys.stderr)
        return 2
    snapshots = describe_snapshots(
        root,
        connector=connector,
        timestamp_field=args.timestamp_field,
        read_records=not args.no_range,
    )
    print(to_json(snapshots) if args.json else render(root, snapshots))
    return 0


def add_commands(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    snapshots = commands.add_parser("snapshots", help="backup snapshots (alpha.N)", parents=parents)
    actions = snapshots.add_subparsers(dest="snapshots_command", required=True)
    listing = actions.add_parser(
        "list",
        help="each snapshot with its date, files, sizes and the time range of its records",
        parents=parents,
    )
    listing.add_argument("--snapshot-root", type=Path, help="default: the config's backup mount")
    listing.add_argument("--topic", help="only this topic's sink files")
    listing.add_argument("--sink-name", help="connector suffix (default: the config's sinkName)")
    listing.add_argument("--timestamp-field", default="utcTime", help="JSON field of the time")
    listing.add_argument("--no-range", action="store_true", help="sizes only, do not read files")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(func=_list)
