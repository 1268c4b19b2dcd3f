"""restore.py: replay records from sink files (or a backup snapshot) into a Kafka topic.

Original usage, still accepted:
    restore.py restore_topic kafka_server "restore_files" "restore_from_time"
    restore.py connect1 kafka "/data/filesink/snapshot/connect*.sink*" "2021-01-19T15:57"

The whole runbook (stop the topic's connectors, move its sink files aside, recreate the topic,
replay, reset the sink's consumer group, resume) is one command:
    restore.py connect1 kafka --from 2021-01-19T15:57 --runbook

Exit codes: 0 done; 1 records failed delivery, Kafka refused a request, or a runbook step
failed (re-run the same command to continue); 2 invalid input, or the encrypted backup
could not be mounted for --snapshot (nothing sent); 3 Kafka or Connect unreachable, or unknown
topic (nothing sent); 4 not confirmed; 130 interrupted.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from confluent_kafka import KafkaException

from kafka_connect_backup.restore import validate
from kafka_connect_backup.restore.backup_mount import snapshot_access
from kafka_connect_backup.restore.confirm import NotConfirmed, confirm
from kafka_connect_backup.restore.kafkaops import KafkaAdmin, KafkaCheckError, TopicInfo
from kafka_connect_backup.restore.plan import MissingTimestampError, Plan, scan
from kafka_connect_backup.restore.producer import RecordProducer
from kafka_connect_backup.restore.replay import replay
from kafka_connect_backup.restore.sources import (
    SourceError,
    SourceFile,
    from_patterns,
    from_snapshot,
)
from kafka_connect_backup.restore.steps import STEPS
from kafka_connect_backup.restore.summary import Summary, iso
from kafka_connect_backup.restore.timefilter import MissingTimestamp, TimeFilter
from kafka_connect_backup.restore.validate import InvalidInput, Settings

FLUSH_TIMEOUT = 300.0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="restore.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("restore_topic", help="destination topic")
    parser.add_argument(
        "kafka_server", nargs="?", help="Kafka server, host[:port] (port 9092 when omitted)"
    )
    parser.add_argument("restore_files", nargs="?", help="quoted path or glob of sink files")
    parser.add_argument(
        "restore_from_time",
        nargs="?",
        help="ISO-8601 time to restore from, inclusive (no zone = UTC), e.g. 2021-01-19T15:57",
    )
    parser.add_argument("--bootstrap", help="same as kafka_server")
    parser.add_argument("--files", action="append", help="more sink files or globs (repeatable)")
    parser.add_argument("--from", dest="from_time", help="same as restore_from_time")
    parser.add_argument("--to", help="keep records strictly before this ISO-8601 time")
    parser.add_argument("--timestamp-field", default="utcTime", help="JSON field (dotted path)")
    parser.add_argument(
        "--missing-timestamp",
        choices=[m.value for m in MissingTimestamp],
        default=MissingTimestamp.SKIP.value,
        help="lines without a readable time: skip (default), include, or fail before sending",
    )
    parser.add_argument("--key-field", help="JSON field whose value becomes the record key")
    parser.add_argument("--snapshot", help="restore from this rsnapshot version, e.g. alpha.0")
    parser.add_argument(
        "--snapshot-root",
        type=Path,
        help="where alpha.N live (default: the config's encrypted backup, mounted at a private "
        "temporary directory for the run and unmounted at the end)",
    )
    parser.add_argument(
        "--source-topic", help="whose backed-up files --snapshot reads (default: the topic)"
    )
    parser.add_argument("--summary-json", type=Path, help="write the summary as JSON here")
    parser.add_argument(
        "--compression",
        choices=["lz4", "zstd", "snappy", "gzip", "none"],
        default="none",
        help="producer compression (default none, the fastest on a fast network, measured; "
        "lz4 or zstd shrink JSON several times on a slow network and on the brokers' disks)",
    )
    parser.add_argument(
        "--cache-mb",
        type=int,
        default=512,
        help="MiB of scanned files kept in memory so the send need not read them again "
        "(default 512; 0 reads every file twice and keeps memory flat)",
    )
    parser.add_argument("--yes", action="store_true", help="do not ask Continue (yes/no)?")
    parser.add_argument(
        "--dry-run", action="store_true", help="read and filter only; never contacts Kafka"
    )
    parser.add_argument(
        "--create-topic", action="store_true", help="create the topic when it does not exist"
    )
    parser.add_argument("--partitions", type=int, help="partitions of a (re)created topic")
    parser.add_argument("--replication-factor", type=int, help="of a (re)created topic")
    parser.add_argument("--config", type=Path, help="kcb config (default /etc/kcb/config.yaml)")
    parser.add_argument("--connect-url", help="Connect REST URL (config: connect.url)")
    parser.add_argument("--sink-name", help="connector suffix (config: sinkName)")
    parser.add_argument("--sink-path", type=Path, help="sink file directory (config: sinkPath)")
    runbook = parser.add_argument_group("runbook")
    runbook.add_argument("--runbook", action="store_true", help="run every step, in order")
    runbook.add_argument(
        "--step",
        action="append",
        choices=list(STEPS),
        help="run only this step (repeatable): " + ", ".join(STEPS),
    )
    runbook.add_argument(
        "--state-dir", type=Path, help="journal directory (default sinkPath/.kcb-restore)"
    )
    return parser


class Progress:
    """A tqdm bar on a terminal (stderr), nothing otherwise."""

    def __init__(self, stream: TextIO) -> None:
        self.enabled = stream.isatty()
        self.stream = stream

    @contextmanager
    def bar(self, total: int | None, description: str) -> Iterator[Callable[[int], None] | None]:
        if not self.enabled:
            yield None
            return
        from tqdm import tqdm

        with tqdm(
            total=total, desc=description, unit=" rec", unit_scale=True, file=self.stream
        ) as bar:

            def update(count: int) -> None:
                bar.update(count)

            yield update


def resolve_sources(settings: Settings) -> list[SourceFile]:
    if settings.snapshot:
        return from_snapshot(settings.snapshot_root, settings.snapshot, settings.source_connector)
    return from_patterns(list(settings.patterns))


def make_plan(settings: Settings, sources: list[SourceFile], progress: Progress) -> Plan:
    time_filter = TimeFilter(settings.window, settings.timestamp_field)
    with progress.bar(None, "scanning") as update:
        return scan(sources, time_filter, settings.missing, update, settings.cache_bytes)


def describe_plan(settings: Settings, plan: Plan, out: TextIO, *, dry_run: bool) -> None:
    print(f"topic:   {settings.topic}", file=out)
    print(f"broker:  {'(dry run: not contacted)' if dry_run else settings.bootstrap}", file=out)
    print(
        f"window:  {settings.window.describe()}, by JSON field {settings.timestamp_field!r}",
        file=out,
    )
    print(f"files:   {len(plan.files)} ({plan.bytes} bytes)", file=out)
    for file_plan in plan.files:
        torn = ", torn last line" if file_plan.torn else ""
        span = (
            f", records {iso(file_plan.first_epoch)} .. {iso(file_plan.last_epoch)}"
            if file_plan.first_epoch is not None
            else ""
        )
        print(
            f"  {file_plan.source.path}: {file_plan.lines + file_plan.torn} lines, "
            f"{file_plan.matched} to send{span}{torn}",
            file=out,
        )
    skipped = plan.skipped
    reasons = ", ".join(f"{k} {v}" for k, v in sorted(skipped.items())) or "none"
    print(
        f"records: {plan.read} read, {plan.matched} to send, {sum(skipped.values())} skipped "
        f"({reasons})",
        file=out,
    )
    if settings.key_field:
        print(f"keys:    from JSON field {settings.key_field!r}", file=out)
    for file_plan in plan.files:
        if file_plan.torn:
            print(
                f"warning: {file_plan.source.path} ends with a torn line (no newline: a record "
                f"cut short, e.g. by a crash while writing); skipped: {file_plan.torn_preview!r}",
                file=out,
            )


def check_kafka(settings: Settings, *, create: bool) -> KafkaAdmin:
    assert settings.bootstrap is not None
    admin = KafkaAdmin(settings.bootstrap)
    admin.check_reachable()
    if not create and admin.describe(settings.topic, configs=False) is None:
        raise KafkaCheckError(
            f"topic {settings.topic!r} does not exist on {settings.bootstrap}: create it first, "
            "or pass --create-topic (or use --runbook, which recreates it); nothing was sent"
        )
    return admin


def send(settings: Settings, plan: Plan, progress: Progress) -> Summary:
    summary = Summary(settings.topic, settings.bootstrap, settings.window.describe(), plan)
    assert settings.bootstrap is not None
    producer = RecordProducer(
        settings.bootstrap, settings.topic, {"compression.type": settings.compression}
    )
    started = time.monotonic()
    with progress.bar(plan.matched, "sending") as update:
        sent = replay(plan, producer, settings.key_field, update)
    counter = producer.flush(FLUSH_TIMEOUT)
    summary.seconds = time.monotonic() - started
    summary.delivered = counter.delivered
    summary.failed = counter.failed + counter.undelivered
    summary.errors = counter.errors
    if counter.undelivered:
        summary.errors[f"still queued after {FLUSH_TIMEOUT:.0f}s"] += counter.undelivered
    shortfall = plan.matched - sum(sent.values())
    if shortfall:
        # A file shrank or was replaced between the scan and the send.
        summary.failed += shortfall
        summary.errors["source changed after the scan (lines not found)"] += shortfall
    return summary


def finish(summary: Summary, settings_json: Path | None, out: TextIO) -> int:
    print(summary.render(), file=out)
    if settings_json is not None:
        summary.write_json(settings_json)
    return validate.EXIT_OK if summary.ok else validate.EXIT_FAILED


@contextmanager
def snapshot_settings(settings: Settings, explicit_root: Path | None) -> Iterator[Settings]:
    """The settings to use while the block runs: with --snapshot and no --snapshot-root, the
    config's encrypted backup is mounted privately for the whole block (the scan and the send
    both read the files) and unmounted afterwards."""
    if not settings.snapshot:
        yield settings
        return
    with snapshot_access(explicit_root, settings.config) as access:
        if access.mounted_from is not None:
            print(
                f"snapshot {settings.snapshot}: encrypted backup {access.mounted_from} mounted "
                f"at {access.root} for this run (unmounted at the end)",
                file=sys.stderr,
            )
        yield dataclasses.replace(settings, snapshot_root=access.root)


def restore(args: argparse.Namespace, out: TextIO, err: TextIO, stdin: TextIO) -> int:
    settings = validate.settings_from_args(args, need_sources=True)
    with snapshot_settings(settings, args.snapshot_root) as readable:
        return _restore(readable, args, out, err, stdin)


def _restore(
    settings: Settings, args: argparse.Namespace, out: TextIO, err: TextIO, stdin: TextIO
) -> int:
    progress = Progress(err)
    sources = resolve_sources(settings)
    admin = None
    if not args.dry_run:
        admin = check_kafka(settings, create=args.create_topic)
    plan = make_plan(settings, sources, progress)
    describe_plan(settings, plan, out, dry_run=args.dry_run)
    if args.dry_run or plan.matched == 0:
        if not args.dry_run:
            print("nothing to send: no record in the window", file=out)
        summary = Summary(
            settings.topic, None, settings.window.describe(), plan, dry_run=args.dry_run
        )
        return finish(summary, args.summary_json, out)
    confirm(args.yes, stdin, out)
    assert admin is not None
    if args.create_topic and admin.describe(settings.topic) is None:
        info = TopicInfo(settings.topic, args.partitions or 1, args.replication_factor or 1)
        print(
            f"creating topic {settings.topic} ({info.partitions} partitions, "
            f"replication factor {info.replication_factor})",
            file=out,
        )
        admin.create(info)
    return finish(send(settings, plan, progress), args.summary_json, out)


def main(
    argv: list[str] | None = None,
    *,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    stdin = stdin or sys.stdin
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    args = build_parser().parse_args(argv)
    try:
        if args.runbook or args.step:
            from kafka_connect_backup.restore.runbook import run_runbook

            return run_runbook(args, out, err, stdin)
        return restore(args, out, err, stdin)
    except (InvalidInput, SourceError, MissingTimestampError) as exc:
        print(f"restore.py: error: {exc}", file=err)
        return validate.EXIT_INVALID
    except KafkaCheckError as exc:
        print(f"restore.py: error: {exc}", file=err)
        return validate.EXIT_UNREACHABLE
    except KafkaException as exc:
        print(
            f"restore.py: error: Kafka refused a request: {exc.args[0] if exc.args else exc}",
            file=err,
        )
        return validate.EXIT_FAILED
    except NotConfirmed as exc:
        print(f"restore.py: {exc}; nothing was sent", file=err)
        return validate.EXIT_NOT_CONFIRMED
    except KeyboardInterrupt:
        print(
            "restore.py: interrupted: records queued before the interrupt may have been "
            "delivered; check the topic (a runbook journal lets a re-run continue)",
            file=err,
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())
