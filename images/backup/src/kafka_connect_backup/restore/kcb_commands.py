"""Restore's subcommands of `kcb` (registered by kafka_connect_backup.cli): `snapshots list`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from kafka_connect_backup.config import Config, load_config
from kafka_connect_backup.restore.backup_mount import BackupMountError, snapshot_access
from kafka_connect_backup.restore.snapshots import describe_snapshots, render, to_json
from kafka_connect_backup.sinkfiles import connector_name

# Exit codes of `kcb snapshots list`.
EXIT_NO_SNAPSHOT = 1  # the snapshot root holds no alpha.N
EXIT_UNAVAILABLE = 2  # the snapshot root is missing, or the backup could not be mounted


def _list(args: argparse.Namespace) -> int:
    root: Path | None = args.snapshot_root
    config: Config | None = None
    if root is None or (args.topic and not args.sink_name):
        config = load_config(args.config)
    connector = None
    if args.topic:
        sink_name = args.sink_name or (config.sink_name if config else "")
        connector = connector_name(args.topic, sink_name)
    try:
        with snapshot_access(root, config) as access:
            if not access.root.is_dir():
                print(
                    f"kcb: snapshot root {access.root} does not exist: is the backup mounted?",
                    file=sys.stderr,
                )
                return EXIT_UNAVAILABLE
            snapshots = describe_snapshots(
                access.root,
                connector=connector,
                timestamp_field=args.timestamp_field,
                read_records=not args.no_range,
            )
            if not any(not s.status.quarantined for s in snapshots):
                if snapshots:  # only set-aside directories: show them, still no snapshot
                    print(to_json(snapshots) if args.json else render(access.root, snapshots))
                where = (
                    f" (the encrypted backup {access.mounted_from}, mounted for this listing: "
                    "no backup cycle has completed yet, or backup.targetDir / "
                    "backup.snapshotSubdir point elsewhere)"
                    if access.mounted_from
                    else ""
                )
                print(f"kcb: {render(access.root, [])}{where}", file=sys.stderr)
                return EXIT_NO_SNAPSHOT
            print(to_json(snapshots) if args.json else render(access.root, snapshots))
    except BackupMountError as exc:
        print(f"kcb: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    return 0


def add_commands(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    snapshots = commands.add_parser("snapshots", help="backup snapshots (alpha.N)", parents=parents)
    actions = snapshots.add_subparsers(dest="snapshots_command", required=True)
    listing = actions.add_parser(
        "list",
        help="each snapshot with its date, status, files, sizes and the time range of its records",
        description="Each snapshot (alpha.N) with its date, its status (complete: verified and "
        "unchanged since; INCOMPLETE and why: cut short or failed its verification; "
        "unverified: no completeness marker, made by an older version), files, sizes and the "
        "time range of its records; then the directories the interrupted-run cleanup set aside "
        "(_incomplete.alpha.N.EPOCH, SET ASIDE). With backup enabled in the config and no "
        "--snapshot-root, the encrypted backup is mounted read-only in spirit at a private "
        "temporary mount point for the listing and unmounted afterwards (a supervisor cycle "
        f"may run meanwhile). Exit codes: 0 listed (whatever their status); {EXIT_NO_SNAPSHOT} "
        f"no snapshot (set-aside directories are still listed); {EXIT_UNAVAILABLE} snapshot "
        "root missing "
        "or the backup could not be mounted.",
        parents=parents,
    )
    listing.add_argument(
        "--snapshot-root",
        type=Path,
        help="where alpha.N live (default: mount the config's encrypted backup privately)",
    )
    listing.add_argument("--topic", help="only this topic's sink files")
    listing.add_argument("--sink-name", help="connector suffix (default: the config's sinkName)")
    listing.add_argument("--timestamp-field", default="utcTime", help="JSON field of the time")
    listing.add_argument("--no-range", action="store_true", help="sizes only, do not read files")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(func=_list)
