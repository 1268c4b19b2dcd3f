"""restore.py: replay records from sink files (or a backup snapshot) into a Kafka topic.

Original usage, still accepted:
    restore.py restore_topic kafka_server "restore_files" "restore_from_time"
    restore.py connect1 kafka "/data/filesink/snapshot/connect*.sink*" "2021-01-19T15:57"

The whole runbook (stop the topic's connectors, move its sink files aside, recreate the topic,
replay, reset the sink's consumer group, resume) is one command:
    restore.py connect1 kafka --from 2021-01-19T15:57 --runbook

Exit codes: 0 done; 1 records failed delivery, Kafka refused a request, or a runbook step
failed (re-run the same command to continue); 2 invalid input, or the encrypted backup
could not be mounted for --snapshot or --snapshot-at, or no snapshot at or before its time
(nothing sent); 3 Kafka or Connect unreachable, or unknown
topic (nothing sent); 4 not confirmed; 130 interrupted.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from confluent_kafka import KafkaException

from kafka_connect_backup import __version__
from kafka_connect_backup.core import durable
from kafka_connect_backup.core.exit_codes import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    RestoreError,
    raise_interrupt,
)
from kafka_connect_backup.core.units import counted
from kafka_connect_backup.kafka.admin import KafkaAdmin, TopicInfo
from kafka_connect_backup.kafka.timefilter import MissingTimestamp
from kafka_connect_backup.layout.names import RESTORE_DIR
from kafka_connect_backup.layout.sinkfiles import consumer_group
from kafka_connect_backup.restore import validate
from kafka_connect_backup.restore.confirm import confirm
from kafka_connect_backup.restore.pipeline import (
    Progress,
    check_creatable,
    check_kafka,
    check_record_sizes,
    describe_plan,
    dry_run_admin,
    finish,
    key_order_warning,
    make_plan,
    print_consequences,
    refuse_duplicates,
    resolve_sources,
    send,
    snapshot_settings,
    source_metadata,
)
from kafka_connect_backup.restore.plan import Plan
from kafka_connect_backup.restore.sources import SourceFile
from kafka_connect_backup.restore.step_names import STEP_NAMES
from kafka_connect_backup.restore.summary import STDOUT, PhaseClock, Summary
from kafka_connect_backup.restore.target import (
    Consequences,
    TargetState,
    consequences,
    read_target,
)
from kafka_connect_backup.restore.validate import Settings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="restore.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
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
    parser.add_argument(
        "--timestamp-field",
        help="JSON field (dotted path) of the value holding the record's time (default utcTime; "
        "envelope files: the record's Kafka timestamp unless this is given)",
    )
    parser.add_argument(
        "--from-offset",
        action="append",
        metavar="P:O",
        help="envelope files: restore partition P from offset O on (repeatable, or "
        "comma-separated; partitions not named: from their first record); with or instead of "
        "the from time",
    )
    parser.add_argument(
        "--missing-timestamp",
        choices=[m.value for m in MissingTimestamp],
        default=MissingTimestamp.SKIP.value,
        help="lines without a readable time: skip (default), include, or fail before sending",
    )
    parser.add_argument("--key-field", help="JSON field whose value becomes the record key")
    parser.add_argument(
        "--snapshot",
        help="restore from this snapshot, {level}.N of any level: alpha.N (backup.retention), "
        "hourly.N, daily.N, weekly.N, monthly.N (backup.keep), e.g. daily.3",
    )
    parser.add_argument(
        "--snapshot-at",
        metavar="TIME",
        help="restore from the newest complete snapshot of any level taken at or before this "
        "ISO-8601 time (no zone = UTC, as --from); the plan says which one and why",
    )
    parser.add_argument(
        "--allow-incomplete",
        action="store_true",
        help="with --snapshot: read a snapshot kcb snapshots list shows as incomplete (cut "
        "short, failed its verification, or set aside as _incomplete.alpha.N.EPOCH); refused "
        "without it",
    )
    parser.add_argument(
        "--snapshot-root",
        type=Path,
        help="where the {level}.N snapshots live (default: the config's encrypted backup, "
        "mounted at a private "
        "temporary directory for the run and unmounted at the end)",
    )
    parser.add_argument(
        "--source-topic", help="whose backed-up files --snapshot reads (default: the topic)"
    )
    parser.add_argument(
        "--summary-json",
        type=Path,
        help="write the summary as JSON here; '-' writes it to stdout (the report then goes to "
        "stderr)",
    )
    parser.add_argument(
        "--compression",
        choices=["lz4", "zstd", "snappy", "gzip", "none"],
        default="none",
        help="producer compression (default none, the fastest on a fast network, measured; "
        "lz4 or zstd shrink JSON several times on a slow network and on the brokers' disks)",
    )
    parser.add_argument(
        "--delivery-timeout",
        metavar="DURATION",
        help="how long Kafka may take to acknowledge a record, e.g. through a broker restart, "
        "before it is counted as failed (default 120s; 30s, 10m, 1h)",
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
        "--dry-run",
        action="store_true",
        help="read and filter only: sends, creates and changes nothing; it reads the target "
        "topic (records, partitions, groups) when Kafka answers within 3s, and says so when not",
    )
    parser.add_argument(
        "--create-topic", action="store_true", help="create the topic when it does not exist"
    )
    parser.add_argument(
        "--append",
        action="store_true",
        help="replay into a topic that already holds records (refused without it: the "
        "replayed records would duplicate those already there)",
    )
    parser.add_argument("--partitions", type=int, help="partitions of a (re)created topic")
    parser.add_argument("--replication-factor", type=int, help="of a (re)created topic")
    parser.add_argument(
        "--drop-config",
        action="append",
        metavar="KEY",
        help="leave this saved topic config out of a (re)created topic (repeatable), e.g. one "
        "an older Kafka version saved that the cluster refuses (the plan checks)",
    )
    parser.add_argument("--config", type=Path, help="kcb config (default /etc/kcb/config.yaml)")
    parser.add_argument(
        "--command-config",
        type=Path,
        metavar="FILE",
        help="Kafka client properties (security.protocol, sasl.mechanism, sasl.jaas.config, "
        "ssl.truststore.* PEM, ...), as for Kafka's own CLI tools; default: the config's "
        "kafka.tls / kafka.authentication (in the pod: the release's)",
    )
    parser.add_argument("--connect-url", help="Connect REST URL (config: connect.url)")
    parser.add_argument("--sink-name", help="connector suffix (config: sinkName)")
    parser.add_argument("--sink-path", type=Path, help="sink file directory (config: sinkPath)")
    runbook = parser.add_argument_group("runbook")
    runbook.add_argument("--runbook", action="store_true", help="run every step, in order")
    runbook.add_argument(
        "--step",
        action="append",
        choices=list(STEP_NAMES),
        help="run only this step (repeatable): " + ", ".join(STEP_NAMES),
    )
    runbook.add_argument(
        "--state-dir", type=Path, help=f"journal directory (default sinkPath/{RESTORE_DIR})"
    )
    runbook.add_argument(
        "--reset-group",
        action="append",
        default=[],
        metavar="GROUP",
        help="after the replay, set this consumer group to the start of the restored topic "
        "(repeatable; refused while it has members); groups not named lose their position when "
        "the topic is recreated",
    )
    runbook.add_argument(
        "--restore-groups",
        action="store_true",
        help="envelope files: after the replay, put every consumer group saved in the topic "
        "metadata file ({topic}-{sinkName}.topic.json beside the files) at the restored "
        "position of its saved offset (the plan prints each mapping first; after a value -> "
        "envelope switch, mapped on the envelope records replayed after the value ones); "
        "refused while a group has members",
    )
    runbook.add_argument(
        "--force",
        action="store_true",
        help="with --yes: also confirm a runbook that deletes records or moves other "
        "consumer groups (otherwise it asks, or refuses without a terminal)",
    )
    return parser


def restore(settings: Settings, out: TextIO, err: TextIO, stdin: TextIO, json_out: TextIO) -> int:
    with snapshot_settings(settings, settings.given_snapshot_root) as readable:
        return _restore(readable, out, err, stdin, json_out)


def _restore(settings: Settings, out: TextIO, err: TextIO, stdin: TextIO, json_out: TextIO) -> int:
    clock = PhaseClock()
    progress = Progress(err)
    dry_run_out = out if settings.dry_run else None
    sources = resolve_sources(settings, err)
    admin, reader, target = _open_target(settings, out)
    create = _created_topic(settings, sources)
    if (
        reader is not None
        and target is not None
        and settings.create_topic
        and not target.partitions
    ):
        check_creatable(reader, create, dry_run_out=dry_run_out)
    clock.lap("prepare")
    plan = make_plan(
        settings, sources, progress, target_partitions=_scan_partitions(settings, target, create)
    )
    clock.lap("scan")
    describe_plan(settings, plan, out, dry_run=settings.dry_run)
    if reader is not None:
        check_record_sizes(reader, plan, settings.topic, dry_run_out=dry_run_out)
    effects = None if target is None else _show_effects(settings, target, plan, out)
    if admin is None or plan.matched == 0:
        if admin is not None:
            print("nothing to send: no record in the window", file=out)
        summary = Summary(
            settings.topic,
            None,
            settings.window.describe(),
            plan,
            dry_run=settings.dry_run,
            target=effects.as_dict() if effects else None,
        )
        clock.lap("checks")
        summary.phases = clock.phases
        return finish(summary, settings.summary_json, out, json_out)
    confirm(settings.yes, stdin, out)
    if settings.create_topic and admin.describe(settings.topic) is None:
        _create_topic(admin, create, out)
    clock.lap("checks")
    summary = send(settings, plan, progress)
    clock.lap("send")
    summary.phases = clock.phases
    summary.target = effects.as_dict() if effects else None
    return finish(summary, settings.summary_json, out, json_out)


def _open_target(
    settings: Settings, out: TextIO
) -> tuple[KafkaAdmin | None, KafkaAdmin | None, TargetState | None]:
    """The Admin client (None in a dry run), the one the target is read through (a dry run's
    read-only one, None when Kafka does not answer) and the target topic as it is."""
    admin = None if settings.dry_run else check_kafka(settings, create=settings.create_topic)
    reader = dry_run_admin(settings, out) if admin is None else admin
    target = None if reader is None else read_target(reader, settings.topic)
    if admin is not None and target is not None:
        refuse_duplicates(target, append=settings.append)
    return admin, reader, target


def _scan_partitions(
    settings: Settings, target: TargetState | None, create: TopicInfo
) -> int | None:
    """The partitions the plan assigns records to: the target's; a created topic's, and a dry
    run's that could not read the target, as the created topic would be."""
    if target is not None and target.partitions:
        return target.partitions
    if settings.create_topic or target is None:
        return create.partitions
    return None


def _created_topic(settings: Settings, sources: list[SourceFile]) -> TopicInfo:
    """A topic created here takes the saved shape of the envelope files' topic unless given."""
    saved = source_metadata(sources)
    metadata = saved[1] if saved else None
    return TopicInfo(
        settings.topic,
        settings.partitions or (metadata.partitions if metadata else 1),
        settings.replication_factor or (metadata.replication_factor if metadata else 1),
        settings.topic_configs(metadata.configs) if metadata else {},
    )


def _show_effects(settings: Settings, target: TargetState, plan: Plan, out: TextIO) -> Consequences:
    """What the replay does to the target topic, said before the question."""
    effects = consequences(
        target,
        plan,
        recreate=False,
        sink_group=consumer_group(settings.topic, settings.sink_name),
        copy="they stay in the source files",
        append=settings.append,
    )
    print_consequences(effects, out)
    if target.records and not settings.append:
        print("  a real run refuses this: the topic holds records (see --append)", file=out)
    partitions = target.partitions or (settings.partitions or 1)
    warning = key_order_warning(settings, partitions, plan)
    if warning:
        print(warning, file=out)
    return effects


def _create_topic(admin: KafkaAdmin, info: TopicInfo, out: TextIO) -> None:
    configs = f", configs {info.configs}" if info.configs else ""
    print(
        f"creating topic {info.name} ({counted(info.partitions, 'partition')}, "
        f"replication factor {info.replication_factor}{configs})",
        file=out,
    )
    admin.create(info)


@contextmanager
def _interrupt_on_sigterm() -> Iterator[None]:
    """SIGTERM (a pod stopping) ends like Ctrl-C: with the true count and the summary."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(
    argv: list[str] | None = None,
    *,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    stdin = stdin or sys.stdin
    json_out = out = stdout or sys.stdout
    err = stderr or sys.stderr
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        message = f"unrecognized arguments: {' '.join(extra)}"
        if any(validate.looks_like_files(text) for text in extra):
            message += f"; {validate.GLOB_HINT}"
        parser.error(message)
    with _interrupt_on_sigterm(), durable.shared_umask():
        return _run(args, stdin, out, err, json_out)


def _run(
    args: argparse.Namespace, stdin: TextIO, out: TextIO, err: TextIO, json_out: TextIO
) -> int:
    if args.summary_json is not None and str(args.summary_json) == STDOUT:
        out = err  # stdout carries the JSON alone
    try:
        # The edge: the command line becomes one checked Settings; nothing below reads args.
        runbook = bool(args.runbook or args.step)
        settings = validate.settings_from_args(args, need_sources=not runbook)
        if runbook:
            from kafka_connect_backup.restore.runbook.driver import run_runbook

            return run_runbook(settings, out, err, stdin, json_out=json_out)
        return restore(settings, out, err, stdin, json_out)
    except RestoreError as exc:
        print(exc.render(), file=err)
        return exc.exit_code
    except KafkaException as exc:
        print(
            f"restore.py: error: Kafka refused a request: {exc.args[0] if exc.args else exc}",
            file=err,
        )
        return EXIT_FAILED
    except KeyboardInterrupt:
        print(
            "restore.py: interrupted (a runbook's journal lets the same command continue)",
            file=err,
        )
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
