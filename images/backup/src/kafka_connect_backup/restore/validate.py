"""Turning the command line (and the optional config file) into checked restore settings.

Everything here runs before any write: a bad time, a `--to` before the from time, a bad field
name or server string, a missing config file. Source files and Kafka are checked next by the
CLI, still before anything is produced.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from kafka_connect_backup.core.config_basics import (
    DEFAULT_BOOTSTRAP_SERVERS,
    DEFAULT_CONFIG_PATH,
    DEFAULT_CONNECT_URL,
    DEFAULT_MOUNT_POINT,
    DEFAULT_SINK_NAME,
    DEFAULT_SINK_PATH,
    is_topic_name,
)
from kafka_connect_backup.core.durations import parse_duration
from kafka_connect_backup.core.exit_codes import EXIT_INVALID, RestoreError
from kafka_connect_backup.kafka.client import (
    PLAINTEXT,
    KafkaConnection,
    KafkaSecurity,
    bootstrap_servers,
)
from kafka_connect_backup.kafka.command_config import (
    CommandConfigError,
    bootstrap_of,
    read_command_config,
)
from kafka_connect_backup.kafka.producer import DELIVERY_TIMEOUT_SECONDS
from kafka_connect_backup.kafka.timefilter import (
    DEFAULT_TIMESTAMP_FIELD,
    FieldReader,
    MissingTimestamp,
    TimeParseError,
    TimeWindow,
    parse_time,
)
from kafka_connect_backup.kafka.topic_metadata import MAX_PARTITIONS, MAX_REPLICATION_FACTOR
from kafka_connect_backup.layout.sinkfiles import connector_name
from kafka_connect_backup.restore.exact import parse_from_offsets
from kafka_connect_backup.restore.sources import SourceError, check_snapshot_name
from kafka_connect_backup.restore.step_names import STEP_NAMES

if TYPE_CHECKING:
    from kafka_connect_backup.config import Config

# librdkafka's message.timeout.ms is a 32-bit count of milliseconds: keep well inside it.
MAX_DELIVERY_TIMEOUT = 24 * 3600


class InvalidInput(RestoreError):
    """A bad argument; the message names it and the accepted form (exit code 2)."""

    exit_code = EXIT_INVALID


@dataclass(frozen=True)
class Settings:
    """Every restore option, checked: the command line becomes this once (`settings_from_args`),
    and the pipeline and the runbook read nothing else."""

    topic: str
    kafka: KafkaConnection  # bootstrap servers and security: every client of the restore
    patterns: tuple[str, ...]
    window: TimeWindow
    timestamp_field: str
    missing: MissingTimestamp
    key_field: str | None
    snapshot: str | None  # --snapshot; with --snapshot-at, the chosen one once resolved
    snapshot_root: Path
    source_connector: str  # whose files --snapshot and the runbook read: {topic}-{sinkName}
    sink_name: str
    sink_path: Path
    connect_url: str
    config: Config | None
    cache_bytes: int = 0
    compression: str = "none"
    delivery_timeout: float = DELIVERY_TIMEOUT_SECONDS  # seconds a record may take to deliver
    append: bool = False  # replay into a topic that already holds records
    allow_incomplete: bool = False  # --snapshot may name an incomplete snapshot
    # --snapshot-at: the newest complete snapshot of any level taken at or before it is read
    # (restore/pipeline.snapshot_settings resolves it to `snapshot` once the backup is mounted,
    # and `snapshot_choice` says which and why in the plan).
    snapshot_at: datetime | None = None
    snapshot_choice: str | None = None
    # Envelope files: --timestamp-field given explicitly (a field of the value) or None (the
    # record timestamp); --from-offset; --restore-groups (the runbook).
    envelope_field: str | None = None
    from_offsets: dict[int, int] = field(default_factory=dict)
    restore_groups: bool = False
    # --drop-config: saved topic configs left out of a (re)created topic.
    drop_configs: tuple[str, ...] = ()
    dry_run: bool = False
    yes: bool = False  # do not ask Continue (yes/no)?
    create_topic: bool = False
    partitions: int | None = None  # of a (re)created topic (default: as it was, or saved)
    replication_factor: int | None = None
    summary_json: Path | None = None  # '-': stdout
    given_snapshot_root: Path | None = None  # --snapshot-root as given (None: mount the backup)
    # The runbook: the selected steps in runbook order, and whether --runbook chose them all
    # (finished ones skipped on a re-run).
    steps: tuple[str, ...] = ()
    whole: bool = False
    state_dir: Path | None = None  # the journal's directory (default sinkPath/.kcb-restore)
    force: bool = False  # with yes: confirm a run that deletes records or moves other groups
    reset_groups: tuple[str, ...] = ()  # set to the start of the restored topic after replay

    def topic_configs(self, configs: dict[str, str]) -> dict[str, str]:
        """The configs a (re)created topic gets: `configs` less the dropped ones."""
        return {k: v for k, v in configs.items() if k not in self.drop_configs}

    @property
    def bootstrap(self) -> str:
        return self.kafka.bootstrap


@dataclass(frozen=True)
class Defaults:
    """What the options fall back on: the config file's values, or without one the config's
    defaults (config_basics: no pydantic import for a restore without a config file)."""

    bootstrap_servers: str = DEFAULT_BOOTSTRAP_SERVERS
    sink_name: str = DEFAULT_SINK_NAME
    sink_path: Path = DEFAULT_SINK_PATH
    connect_url: str = DEFAULT_CONNECT_URL
    snapshot_root: Path = DEFAULT_MOUNT_POINT
    security: KafkaSecurity = PLAINTEXT

    @classmethod
    def of(cls, config: Config | None) -> Defaults:
        if config is None:
            return cls()
        return cls(
            config.kafka.bootstrap_servers,
            config.sink_name,
            config.sink_path,
            config.connect.url,
            config.backup.snapshot_root,
            config.kafka.security(),
        )


def _config(args: argparse.Namespace) -> Config | None:
    """The config file is optional: it only supplies defaults. An explicit --config must load."""
    path: Path | None = args.config
    if path is None:
        if not DEFAULT_CONFIG_PATH.exists():
            return None
        path = DEFAULT_CONFIG_PATH
    from kafka_connect_backup.config import ConfigError, load_config

    try:
        return load_config(path)
    except ConfigError as exc:
        raise InvalidInput(str(exc)) from None


def _one(name: str, positional: str | None, option: str | None, flag: str) -> str | None:
    if positional is not None and option is not None and positional != option:
        raise InvalidInput(f"{name} given twice: {positional!r} and {flag} {option!r}")
    return positional if positional is not None else option


def check_options(args: argparse.Namespace) -> None:
    """Options that cannot work, refused before anything is read, deleted or sent (a runbook
    journal never records them)."""
    if args.runbook and args.step:
        raise InvalidInput(
            "give either --runbook (every step) or --step (the steps named), not both"
        )
    for flag, value, most in (
        ("--partitions", args.partitions, MAX_PARTITIONS),
        ("--replication-factor", args.replication_factor, MAX_REPLICATION_FACTOR),
    ):
        if value is not None and not 1 <= value <= most:
            raise InvalidInput(
                f"{flag} {value} must be 1 or more" + (f", at most {most}" if value > most else "")
            )
    for flag, name in (("--source-topic", args.source_topic), ("--sink-name", args.sink_name)):
        if name is not None and not is_topic_name(name):
            raise InvalidInput(
                f"{flag} {name!r} is not a valid name (letters, digits, '.', '_', '-'; at "
                "most 249 characters)"
            )
    _delivery_timeout(args.delivery_timeout)
    target = args.summary_json
    if target is not None and str(target) != "-":
        parent = target.parent if str(target.parent) else Path()
        if target.is_dir():
            raise InvalidInput(f"--summary-json {target} is a directory: give a file path")
        if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
            raise InvalidInput(
                f"--summary-json {target}: its directory {parent} does not exist or is not "
                "writable by this user"
            )


def settings_from_args(args: argparse.Namespace, *, need_sources: bool) -> Settings:
    """The one place the command line is read: every option checked, in the order the
    messages have always come in, before anything is read, deleted or sent."""
    check_options(args)
    topic = _topic(args.restore_topic)
    config = _config(args)
    defaults = Defaults.of(config)
    kafka = _kafka(args, defaults)
    from_offsets = _from_offsets(args)
    window = _window(args, from_offsets)
    _check_fields(args)
    patterns = _sources(args, need_sources=need_sources)
    if args.cache_mb < 0:
        raise InvalidInput(f"--cache-mb {args.cache_mb} must be 0 or more")
    sink_name = args.sink_name or defaults.sink_name
    chosen = set(args.step or ())
    return Settings(
        topic=topic,
        kafka=kafka,
        patterns=patterns,
        window=window,
        timestamp_field=args.timestamp_field or DEFAULT_TIMESTAMP_FIELD,
        missing=MissingTimestamp(args.missing_timestamp),
        key_field=args.key_field,
        snapshot=args.snapshot,
        snapshot_at=_snapshot_at(args.snapshot_at),
        snapshot_root=args.snapshot_root or defaults.snapshot_root,
        source_connector=connector_name(args.source_topic or topic, sink_name),
        sink_name=sink_name,
        sink_path=args.sink_path or defaults.sink_path,
        connect_url=args.connect_url or defaults.connect_url,
        config=config,
        cache_bytes=args.cache_mb << 20,
        compression=args.compression,
        delivery_timeout=_delivery_timeout(args.delivery_timeout),
        append=args.append,
        allow_incomplete=args.allow_incomplete,
        envelope_field=args.timestamp_field,
        from_offsets=from_offsets,
        restore_groups=args.restore_groups,
        drop_configs=tuple(dict.fromkeys(args.drop_config or ())),
        dry_run=args.dry_run,
        yes=args.yes,
        create_topic=args.create_topic,
        partitions=args.partitions,
        replication_factor=args.replication_factor,
        summary_json=args.summary_json,
        given_snapshot_root=args.snapshot_root,
        steps=STEP_NAMES if args.runbook else tuple(s for s in STEP_NAMES if s in chosen),
        whole=bool(args.runbook),
        state_dir=args.state_dir,
        force=args.force,
        reset_groups=tuple(dict.fromkeys(args.reset_group)),
    )


def _topic(topic: str) -> str:
    if not is_topic_name(topic):
        raise InvalidInput(
            f"restore_topic {topic!r} is not a Kafka topic name (letters, digits, '.', '_', '-'; "
            "at most 249 characters)"
        )
    return topic


def _kafka(args: argparse.Namespace, defaults: Defaults) -> KafkaConnection:
    """The bootstrap servers (positional, --bootstrap, --command-config's, the config's) and
    the security (--command-config, else the config's)."""
    security = defaults.security
    server = _one("kafka_server", args.kafka_server, args.bootstrap, "--bootstrap")
    if args.command_config is not None:
        try:
            security = read_command_config(args.command_config)
        except CommandConfigError as exc:
            raise InvalidInput(str(exc)) from None
        server = server or bootstrap_of(args.command_config)  # its bootstrap.servers, if any
    if server is None:
        server = defaults.bootstrap_servers
    _refuse_path_as_server(server)
    try:
        return KafkaConnection(bootstrap_servers(server), security)
    except ValueError as exc:
        raise InvalidInput(f"kafka_server {exc}") from None


def _from_offsets(args: argparse.Namespace) -> dict[int, int]:
    try:
        from_offsets = parse_from_offsets(args.from_offset or [])
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None
    if args.restore_groups and not (args.runbook or args.step):
        raise InvalidInput(
            "--restore-groups applies to the runbook (--runbook or --step reset-offsets), which "
            "recreates the topic the groups are put back on"
        )
    return from_offsets


def _window(args: argparse.Namespace, from_offsets: dict[int, int]) -> TimeWindow:
    from_text = _one("restore_from_time", args.restore_from_time, args.from_time, "--from")
    if from_text is None and not from_offsets:
        raise InvalidInput(
            "restore_from_time is required: an ISO-8601 time such as 2021-01-19T15:57 "
            "(use --from 1970-01-01 to restore everything, or --from-offset P:O with "
            "envelope files)"
        )
    try:
        start = parse_time(from_text) if from_text is not None else None
        end = parse_time(args.to) if args.to is not None else None
        return TimeWindow(start, end)
    except TimeParseError as exc:
        expanded = from_text is not None and looks_like_files(from_text)
        raise InvalidInput(f"{exc}; {GLOB_HINT}" if expanded else str(exc)) from None


def _check_fields(args: argparse.Namespace) -> None:
    for flag, name in (
        ("--timestamp-field", args.timestamp_field),
        ("--key-field", args.key_field),
    ):
        if name is not None:
            try:
                FieldReader(name)
            except ValueError as exc:
                raise InvalidInput(f"{flag}: {exc}") from None


def _sources(args: argparse.Namespace, *, need_sources: bool) -> tuple[str, ...]:
    """The sink files' patterns (restore_files, then --files); or --snapshot."""
    patterns = tuple(args.files or ())
    if args.restore_files is not None:
        patterns = (args.restore_files, *patterns)
    if args.snapshot and args.snapshot_at:
        raise InvalidInput(
            "give either --snapshot (a snapshot by name) or --snapshot-at (the newest taken at "
            "or before a time), not both"
        )
    snapshot = args.snapshot or args.snapshot_at
    if args.snapshot:
        try:
            check_snapshot_name(args.snapshot)
        except SourceError as exc:
            raise InvalidInput(str(exc)) from None
    if args.allow_incomplete and not args.snapshot:
        raise InvalidInput(
            "--allow-incomplete applies to --snapshot only (--snapshot-at never chooses an "
            "incomplete snapshot)"
        )
    if snapshot and patterns:
        which = "--snapshot" if args.snapshot else "--snapshot-at"
        raise InvalidInput(f"give either restore_files or {which}, not both")
    if need_sources and not patterns and not snapshot:
        raise InvalidInput(
            "restore_files is required: a quoted glob such as '/data/filesink/snapshot/*.sink*' "
            "(or --snapshot daily.N, or --snapshot-at TIME)"
        )
    return patterns


def _snapshot_at(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        return parse_time(text)
    except TimeParseError as exc:
        raise InvalidInput(f"--snapshot-at {exc}") from None


def _delivery_timeout(text: str | None) -> float:
    if text is None:
        return DELIVERY_TIMEOUT_SECONDS
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise InvalidInput(f"--delivery-timeout {exc}") from None
    if not 1 <= seconds <= MAX_DELIVERY_TIMEOUT:
        raise InvalidInput(
            f"--delivery-timeout {text} must be between 1s and {MAX_DELIVERY_TIMEOUT // 3600}h"
        )
    return seconds


# What to say when a glob reached restore.py expanded: its files fill the places of the
# arguments after it (restore_from_time, then "unrecognized arguments").
GLOB_HINT = (
    "if the shell expanded an unquoted glob of sink files, quote it: restore.py TOPIC SERVER "
    "'/data/filesink/snapshot/TOPIC-*.sink*' TIME"
)


def looks_like_files(text: str) -> bool:
    """A path or glob of sink files, not a host or a time."""
    return any(mark in text for mark in "/*?") or text.endswith((".sink", ".gz"))


def _refuse_path_as_server(server: str) -> None:
    """The original's order is topic, server, files, time: a glob or path in the server's place
    is an argument in the wrong place, not a badly spelt host."""
    if "://" in server:  # a URL: bootstrap_servers says "host:port, no scheme"
        return
    if looks_like_files(server):
        raise InvalidInput(
            f"kafka_server {server!r} looks like sink files (a path or glob), not a Kafka "
            'server: the arguments are restore_topic kafka_server "restore_files" '
            "restore_from_time, e.g. restore.py orders kafka:9092 "
            '"/data/filesink/snapshot/orders-*.sink*" 2021-01-19T15:57'
        )
