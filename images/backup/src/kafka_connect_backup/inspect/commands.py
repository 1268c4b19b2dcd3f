"""The handlers of `kcb snapshots list`, `snapshots export`, `snapshots verify`, `snapshots
prune` and `kcb drill`
(their parsers are in kafka_connect_backup/cli.py, with the rest of `kcb`). A drill's result is
kept in `{sinkPath}/.kcb-drill.json` (inspect/drill_record.py), where the supervisor's metrics
read it."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path

from kafka_connect_backup.config import Config, is_topic_name, load_config
from kafka_connect_backup.core.exit_codes import (
    EXIT_DRILL_FAILED,
    EXIT_DRILL_PASSED,
    EXIT_INVALID,
    EXIT_NO_SNAPSHOT,
    EXIT_OK,
    EXIT_PROBLEM,
    EXIT_UNAVAILABLE,
    RestoreError,
)
from kafka_connect_backup.core.logs import configure_logging
from kafka_connect_backup.inspect.drill import run_drill
from kafka_connect_backup.inspect.drill_record import record_drill
from kafka_connect_backup.inspect.export import STDOUT, export
from kafka_connect_backup.inspect.prune import (
    PruneRefused,
    check_level,
    plan_prune,
    prune,
    refuse_loss,
)
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
from kafka_connect_backup.layout.sinkfiles import connector_name, parse_sink_file
from kafka_connect_backup.restore.backup_mount import (
    BackupMountError,
    NoVolumeYet,
    SnapshotAccess,
    snapshot_access,
)
from kafka_connect_backup.restore.sources import (
    SourceError,
    check_snapshot_name,
    from_snapshot,
    resolve_snapshot,
)

DEFAULT_TIMESTAMP_FIELD = "utcTime"


def snapshots_list(args: argparse.Namespace) -> int:
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
            return _list(access, args, connector)
    except NoVolumeYet as exc:
        print(f"kcb: {exc}", file=sys.stderr)
        return EXIT_NO_SNAPSHOT
    except BackupMountError as exc:
        print(f"kcb: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE


def _root_missing(access: SnapshotAccess) -> bool:
    """Say so when the snapshot root is not there (a wrong --snapshot-root, or no mount)."""
    if access.root.is_dir():
        return False
    print(
        f"kcb: snapshot root {access.root} does not exist: is the backup mounted?",
        file=sys.stderr,
    )
    return True


def _list(access: SnapshotAccess, args: argparse.Namespace, connector: str | None) -> int:
    """`snapshots list` on the mounted (or given) snapshot root."""
    if _root_missing(access):
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
    return EXIT_OK


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


def _snapshot_at(args: argparse.Namespace) -> datetime | None:
    """--snapshot-at, checked before any mount (ValueError naming the option)."""
    if args.snapshot_at is None:
        if args.snapshot is not None:
            check_snapshot_name(args.snapshot)
        return None
    if args.snapshot is not None:
        raise ValueError(
            "give either --snapshot (a snapshot by name) or --snapshot-at (the newest taken "
            "at or before a time), not both"
        )
    try:
        return parse_time(args.snapshot_at)
    except TimeParseError as exc:
        raise ValueError(f"--snapshot-at {exc}") from None


def snapshots_export(args: argparse.Namespace) -> int:
    try:
        time_filter = _export_filter(args)
        at = _snapshot_at(args)
    except (ValueError, SourceError) as exc:
        print(f"kcb: error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    root: Path | None = args.snapshot_root
    config = load_config(args.config) if root is None or not args.sink_name else None
    sink_name = args.sink_name or (config.sink_name if config else "")
    missing = MissingTimestamp(args.missing_timestamp)
    try:
        with snapshot_access(root, config) as access:
            name, choice = resolve_snapshot(access.root, args.snapshot, at)
            if args.snapshot is None:  # chosen here: say which and why
                print(f"kcb: snapshot {choice}", file=sys.stderr)
            sources = from_snapshot(
                access.root,
                name,
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
        f"kcb: exported {plan.matched} records of {args.topic} from {name} "
        f"({len(plan.files)} files, {plan.read} read, {sum(skipped.values())} skipped: "
        f"{reasons}; {time_filter.window.describe()}) to {where}",
        file=sys.stderr,
    )
    return EXIT_OK


def snapshots_verify(args: argparse.Namespace) -> int:
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
    return EXIT_OK if result.ok else EXIT_PROBLEM


def configured_levels(config: Config) -> dict[str, int]:
    """backup.keep: the levels the supervisor prunes by count ({} = backup.retention's alpha)."""
    return dict(config.backup.keep)


def snapshots_prune(args: argparse.Namespace) -> int:
    config = load_config(args.config)  # which levels the supervisor prunes itself
    try:
        check_level(args.level, configured_levels(config))
        with snapshot_access(args.snapshot_root, config) as access:
            if _root_missing(access):
                return EXIT_UNAVAILABLE
            plan = plan_prune(access.root, args.level)
            if not plan.doomed:
                print(f"kcb: no {args.level}.N in {access.root}: nothing to prune")
                return EXIT_OK
            print(plan.render())
            if not args.allow_loss:
                refuse_loss(plan)
            if not args.yes:
                print("nothing deleted: give --yes to delete them")
                return EXIT_OK
            prune(plan)
    except PruneRefused as exc:
        print(f"kcb: error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except RestoreError as exc:  # the backup could not be mounted
        print(f"kcb: error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(f"deleted {', '.join(d.snapshot.name for d in plan.doomed)}")
    return EXIT_OK


def drill(args: argparse.Namespace) -> int:
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
        return EXIT_DRILL_PASSED
    return EXIT_UNAVAILABLE if report.error is not None else EXIT_DRILL_FAILED
