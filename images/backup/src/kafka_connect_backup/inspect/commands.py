"""Restore's subcommands of `kcb` (registered by kafka_connect_backup.cli): `snapshots list`,
`snapshots export` and `snapshots verify`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from kafka_connect_backup.config import Config, is_topic_name, load_config
from kafka_connect_backup.core.exit_codes import RestoreError
from kafka_connect_backup.inspect.export import STDOUT, export
from kafka_connect_backup.inspect.snapshots import describe_snapshots, render, to_json
from kafka_connect_backup.inspect.verify import snapshots_to_verify, verify
from kafka_connect_backup.inspect.verify_record import save_verification
from kafka_connect_backup.kafka.timefilter import (
    MissingTimestamp,
    TimeFilter,
    TimeParseError,
    TimeWindow,
    parse_time,
)
from kafka_connect_backup.layout.names import NEWEST_SNAPSHOT
from kafka_connect_backup.layout.sinkfiles import connector_name, parse_sink_file
from kafka_connect_backup.restore.backup_mount import (
    BackupMountError,
    NoVolumeYet,
    snapshot_access,
)
from kafka_connect_backup.restore.sources import SourceError, from_snapshot

DEFAULT_TIMESTAMP_FIELD = "utcTime"
# Exit codes of `kcb snapshots list`.
EXIT_NO_SNAPSHOT = 1  # the snapshot root holds no alpha.N (with --topic: none of the topic)
EXIT_UNAVAILABLE = 2  # the snapshot root is missing, or the backup could not be mounted
EXIT_INVALID = 2  # `snapshots export`: bad arguments
EXIT_PROBLEM = 1  # `snapshots verify`: a snapshot is not complete, or a file has a problem


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
            if connector is not None and not any(s.files or s.metadata for s in snapshots):
                print(f"kcb: {_no_such_topic(access.root, args.topic, connector)}", file=sys.stderr)
                return EXIT_NO_SNAPSHOT
            print(to_json(snapshots) if args.json else render(access.root, snapshots))
    except NoVolumeYet as exc:
        print(f"kcb: {exc}", file=sys.stderr)
        return EXIT_NO_SNAPSHOT
    except BackupMountError as exc:
        print(f"kcb: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    return 0


def _no_such_topic(root: Path, topic: str, connector: str) -> str:
    """What `snapshots list --topic` says when no snapshot holds a file of the topic: the
    connectors they do hold, so a misspelt topic or sink name shows."""
    held = sorted(
        {name.stem for path in root.rglob("*") if (name := parse_sink_file(path)) is not None}
    )
    return (
        f"no snapshot in {root} holds a file of topic {topic!r} (connector {connector}: no "
        f"{connector}-*.sink file, no {connector}.topic.json); the snapshots hold "
        f"{', '.join(held) if held else 'no sink file'}: check --topic and --sink-name"
    )


def _export_filter(args: argparse.Namespace) -> TimeFilter:
    """The window and field, checked before any mount (ValueError naming the option)."""
    if not is_topic_name(args.topic):
        raise ValueError(f"--topic {args.topic!r} is not a Kafka topic name")
    try:
        window = TimeWindow(parse_time(args.from_time), parse_time(args.to) if args.to else None)
    except TimeParseError as exc:
        raise ValueError(str(exc)) from None
    try:
        time_filter = TimeFilter(window, args.timestamp_field or DEFAULT_TIMESTAMP_FIELD)
    except ValueError as exc:
        raise ValueError(f"--timestamp-field: {exc}") from None
    if args.output != STDOUT:
        parent = Path(args.output).parent
        if not parent.is_dir() or Path(args.output).is_dir():
            raise ValueError(f"-o {args.output}: give a file in an existing directory, or -")
    return time_filter


def _export(args: argparse.Namespace) -> int:
    try:
        time_filter = _export_filter(args)
    except ValueError as exc:
        print(f"kcb: error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    root: Path | None = args.snapshot_root
    config = load_config(args.config) if root is None or not args.sink_name else None
    sink_name = args.sink_name or (config.sink_name if config else "")
    missing = MissingTimestamp(args.missing_timestamp)
    try:
        with snapshot_access(root, config) as access:
            sources = from_snapshot(
                access.root,
                args.snapshot,
                connector_name(args.topic, sink_name),
                allow_incomplete=args.allow_incomplete,
            )
            plan = export(sources, time_filter, missing, args.output, args.timestamp_field)
    except RestoreError as exc:  # a mount that failed, a snapshot or file that cannot be read
        print(f"kcb: error: {exc}", file=sys.stderr)
        return exc.exit_code
    skipped = plan.skipped
    reasons = ", ".join(f"{k} {v}" for k, v in sorted(skipped.items())) or "none"
    where = "stdout" if args.output == STDOUT else args.output
    print(
        f"kcb: exported {plan.matched} records of {args.topic} from {args.snapshot} "
        f"({len(plan.files)} files, {plan.read} read, {sum(skipped.values())} skipped: "
        f"{reasons}; {time_filter.window.describe()}) to {where}",
        file=sys.stderr,
    )
    return 0


def _verify(args: argparse.Namespace) -> int:
    root: Path | None = args.snapshot_root
    config = load_config(args.config) if root is None else None
    sink_name = args.sink_name or (config.sink_name if config else None)
    try:
        with snapshot_access(root, config) as access:
            directories = snapshots_to_verify(access.root, args.snapshot, args.all)
            result = verify(access.root, directories, deep=args.deep, sink_name=sink_name)
            where = (
                f" (the encrypted backup {access.mounted_from}, mounted privately for this check)"
                if access.mounted_from
                else ""
            )
    except SourceError as exc:  # a mount that failed, a wrong name, no such snapshot
        print(f"kcb: error: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    if config is not None:  # the release's own backup: kcb status and the metrics show it
        save_verification(config, result)
    print(result.to_json() if args.json else result.render(where))
    return 0 if result.ok else EXIT_PROBLEM


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
        "no snapshot (set-aside directories are still listed; also an empty backup target, "
        "before the first cycle), or with --topic no snapshot holding a file of the topic; "
        f"{EXIT_UNAVAILABLE} snapshot "
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
    exporting = actions.add_parser(
        "export",
        help="the record values of a topic in a time window, from a snapshot, without Kafka",
        description="The record values of one topic in [--from, --to), one per line in file "
        "order, from the snapshot's plain and gzipped sink files (envelope files: their whole "
        "envelope lines), with restore.py's time rules (its counts are a restore dry run's; "
        "envelope files by the record timestamps unless --timestamp-field is given). The "
        "encrypted backup is mounted privately, as for `snapshots list`, unless "
        "--snapshot-root names a mounted or copied tree of alpha.N/localhost/. Counts go to "
        "stderr. Exit codes: 0 exported; 1 the output could not "
        "be written (e.g. a full file system: nothing is left under -o); 2 bad arguments, or "
        "the snapshot, its files or the backup cannot be read (nothing written under -o); 141 "
        "the reader of stdout stopped early (`| head`), quietly, as a Unix tool.",
        parents=parents,
    )
    exporting.add_argument("--topic", required=True, help="whose backed-up records")
    exporting.add_argument("--snapshot", default=NEWEST_SNAPSHOT, help="alpha.N (default alpha.0)")
    exporting.add_argument(
        "--from", dest="from_time", required=True, help="ISO-8601 time, inclusive (no zone: UTC)"
    )
    exporting.add_argument("--to", help="ISO-8601 time, exclusive")
    exporting.add_argument("-o", "--output", default=STDOUT, help="file to write, or - (default)")
    exporting.add_argument(
        "--snapshot-root", type=Path, help="where alpha.N live (default: mount the backup)"
    )
    exporting.add_argument("--sink-name", help="connector suffix (default: the config's)")
    exporting.add_argument(
        "--timestamp-field",
        help=f"JSON field (dotted path) of the value holding the record's time (default "
        f"{DEFAULT_TIMESTAMP_FIELD}; envelope files: the record's Kafka timestamp unless this "
        "is given, as for restore.py)",
    )
    exporting.add_argument(
        "--missing-timestamp",
        choices=[m.value for m in MissingTimestamp],
        default=MissingTimestamp.SKIP.value,
        help="lines without a readable time: skip (default), include, or fail",
    )
    exporting.add_argument(
        "--allow-incomplete",
        action="store_true",
        help="read a snapshot marked incomplete (cut short or failed verification) anyway",
    )
    exporting.set_defaults(func=_export)
    verifying = actions.add_parser(
        "verify",
        help="check that a snapshot's files are whole, restorable sink files (--deep: read "
        "every byte)",
        description="Check a snapshot (default alpha.0; --all: every alpha.N) without writing "
        "anything: its status from the completeness marker (anything but complete, e.g. a "
        "marker whose digest no longer matches the content, is a problem); only localhost/ "
        "and the marker at its top, and only sink file names under localhost/ (any other "
        "file is reported by path); each .gz's size, gzip header and trailer; each plain "
        "file's last byte a newline (its last record complete). --deep also reads every byte "
        "through the decryption (a damaged ciphertext block is the engine's I/O error), "
        "decompresses each .gz whole (CRC-32 and length checked), checks every line is "
        "complete and one restore reads (UTF-8; an envelope line), and counts lines per file "
        "and per topic; for alpha.0 it compares each topic's envelope files with the sink "
        "group's committed offsets at the snapshot's stop, exactly (each partition's last "
        "record), and says the offsets are only a bound for value files (not compared). The "
        "encrypted backup "
        "is mounted privately, as for `snapshots list`, unless --snapshot-root names a "
        "mounted or copied tree. Prints each snapshot, each problem (path: what is wrong) and "
        "a line of counts (--json: the same for scripts). Exit codes: 0 every checked "
        f"snapshot complete and no problem; {EXIT_PROBLEM} a problem found (a snapshot not "
        f"complete, a damaged or stray file); {EXIT_UNAVAILABLE} bad arguments, no such "
        "snapshot, or the backup could not be mounted.",
        parents=parents,
    )
    which = verifying.add_mutually_exclusive_group()
    which.add_argument(
        "snapshot", nargs="?", default=None, help="alpha.N to check (default alpha.0)"
    )
    which.add_argument("--all", action="store_true", help="check every alpha.N")
    verifying.add_argument(
        "--deep",
        action="store_true",
        help="read and decompress every byte, every line as restore reads it",
    )
    verifying.add_argument(
        "--snapshot-root", type=Path, help="where alpha.N live (default: mount the backup)"
    )
    verifying.add_argument(
        "--sink-name", help="connector suffix, to name topics (default: the config's)"
    )
    verifying.add_argument("--json", action="store_true", help="machine-readable output")
    verifying.set_defaults(func=_verify)
