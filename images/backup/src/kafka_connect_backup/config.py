"""The supervisor/restore config file: one YAML document rendered by the Helm chart from its
values (and written by the demo and the tests), validated on load.

Every validation error names the key path and the accepted form; nothing starts on an invalid
config. Keys are camelCase to match the chart's values.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, time
from enum import StrEnum
from itertools import pairwise
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

# Re-exported (`X as X`): most of the code imports them from here.
from kafka_connect_backup.core.config_basics import (
    DEFAULT_BOOTSTRAP_SERVERS,
    DEFAULT_CONNECT_URL,
    DEFAULT_MOUNT_POINT,
    DEFAULT_SINK_NAME,
    DEFAULT_SINK_PATH,
)
from kafka_connect_backup.core.config_basics import DEFAULT_CONFIG_PATH as DEFAULT_CONFIG_PATH
from kafka_connect_backup.core.config_basics import TOPIC_PATTERN as TOPIC_PATTERN
from kafka_connect_backup.core.config_basics import SinkFormat as SinkFormat
from kafka_connect_backup.core.config_basics import SinkRotation as SinkRotation
from kafka_connect_backup.core.config_basics import is_topic_name as is_topic_name
from kafka_connect_backup.core.durations import parse_duration
from kafka_connect_backup.kafka.client import (
    KafkaConnection,
    KafkaSecurity,
    KafkaSecurityError,
    bootstrap_servers,
)
from kafka_connect_backup.layout.names import KEEP_LEVELS, LEVEL
from kafka_connect_backup.layout.sinkfiles import compress_temp_name, copy_temp_name, longest_names

# One path segment below the mount point: not ".", "..", or empty (no way out of the volume).
_SEGMENT = r"[A-Za-z0-9._-]*[A-Za-z0-9_-][A-Za-z0-9._-]*"
SUBDIR_PATTERN = rf"^({_SEGMENT}(/{_SEGMENT})*)?$"
MIN_DURATION_SECONDS = 1.0
# A year and a day: longer would never come (a cycle, a drill) while every check said healthy.
MAX_DURATION_DAYS = 366
# Connectors lost with a Connect restart are recreated within this (the status says HEALTHY
# meanwhile): at most 5 minutes.
MAX_RECONCILE_SECONDS = 300.0


def _checked_duration(value: str) -> str:
    seconds = parse_duration(value)
    if seconds < MIN_DURATION_SECONDS:
        raise ValueError(f"{value!r} is shorter than {MIN_DURATION_SECONDS:g}s")
    if seconds > MAX_DURATION_DAYS * 86400:
        raise ValueError(
            f"{value!r} is longer than {MAX_DURATION_DAYS}d: use at most {MAX_DURATION_DAYS}d"
        )
    return value


def _checked_reconcile(value: float) -> float:
    if not value <= MAX_RECONCILE_SECONDS:  # also nan
        raise ValueError(
            f"{value:g} is more than {MAX_RECONCILE_SECONDS:g} seconds: connectors a Connect "
            "restart lost are recreated only by the reconcile, while the status says HEALTHY; "
            f"use at most {MAX_RECONCILE_SECONDS:g}"
        )
    return value


def _checked_bootstrap(value: str) -> str:
    """host:port entries, comma-separated: what Connect's worker and every client take (a host
    without a port would reach Connect's worker as it is, which refuses it)."""
    try:
        bootstrap_servers(value)
    except ValueError as exc:
        raise ValueError(str(exc)) from None
    for host in (part.strip() for part in value.split(",")):
        if not re.search(r"(^[^:\[\]]+|\])(:[0-9]+)$", host):
            raise ValueError(f"{host!r} has no port: write host:port, e.g. {host}:9092")
    return value


def _checked_sink_path(value: Path) -> Path:
    if not value.is_absolute() or value == Path("/"):
        raise ValueError(
            f"{str(value)!r} must be an absolute directory of its own (e.g. /data/filesink): "
            "a relative path depends on the working directory, / is the whole file system"
        )
    return value


def _checked_subdir(value: str) -> str:
    if not re.fullmatch(SUBDIR_PATTERN, value):
        raise ValueError(
            f"{value!r} must be a relative path inside the volume: names of letters, digits, "
            "'.', '_', '-' separated by '/', no '.' or '..' (or empty for the mount point)"
        )
    return value


def _checked_topic(value: str) -> str:
    if value in (".", ".."):
        raise ValueError(f"{value!r} is not a topic name (Kafka refuses '.' and '..')")
    return value


# backup.keep's levels: the period between two snapshots of a level (monthly counted as its
# shortest month, for the check against restartTimeout), and the time of day (UTC) they are
# taken at (backup.keepAt).
LEVEL_PERIODS = {"hourly": "1h", "daily": "1d", "weekly": "7d", "monthly": "28d"}
KEEP_AT_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"


def _checked_keep(value: dict[str, int]) -> dict[str, int]:
    unknown = sorted(set(value) - set(KEEP_LEVELS))
    if unknown:
        raise ValueError(
            f"unknown level {', '.join(map(repr, unknown))}: use any of {', '.join(KEEP_LEVELS)}"
        )
    levels = [level for level in KEEP_LEVELS if level in value]
    for lower, higher in pairwise(levels):
        if value[lower] < 2:  # rsnapshot: "must be above 1 to keep snapshots at the next level"
            raise ValueError(
                f"{lower} is {value[lower]} but feeds {higher}: a level that feeds a higher one "
                f"keeps at least 2 (rsnapshot refuses 1); raise backup.keep.{lower} to 2 or more"
            )
    return {level: value[level] for level in levels}  # lowest first, as rsnapshot.conf lists


def _checked_keep_at(value: str) -> str:
    if not re.fullmatch(KEEP_AT_PATTERN, value):
        raise ValueError(f"{value!r} is not a time of day: write HH:MM (UTC), e.g. 00:00 or 03:30")
    return value


# A GNU timeout style duration (30s, 90m, 23h, 1d), checked on load.
Duration = Annotated[str, AfterValidator(_checked_duration)]


class ConfigError(Exception):
    """An invalid config file; the message lists every bad key and how to fix it."""


# The connector config keys the supervisor sets itself (connect/connectors.py).
SINK_OWNED_KEYS = frozenset(
    {"name", "connector.class", "tasks.max", "topics", "topics.regex", "file"}
)
# ... and those it sets too with sinkFormat envelope (kafka_connect_backup/kafka/envelope.py), as
# well as every `transforms.*` key.
ENVELOPE_OWNED_KEYS = frozenset(
    {"key.converter", "value.converter", "header.converter", "transforms"}
)
CONFIG_NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]*"
CONTROL_CHARACTERS = r"[\x00-\x1f\x7f]"


class Engine(StrEnum):
    ENCFS = "encfs"
    GOCRYPTFS = "gocryptfs"


# Bytes in one file name: every Linux file system of the data volume (and the NFS side).
NAME_MAX = 255
# ... and what each engine's plaintext view stores (measured): encfs --standard writes a name
# as base64 of a 2-byte MAC and the name padded to 16-byte blocks, so 175 bytes fill its 255;
# gocryptfs keeps a longer ciphertext name in a gocryptfs.longname.* file: 255.
ENGINE_NAME_MAX = {Engine.ENCFS: 175, Engine.GOCRYPTFS: 255}


def file_name_problem(
    topic: str,
    sink_name: str,
    rotation: SinkRotation,
    sink_format: SinkFormat,
    engine: Engine | None,
) -> str | None:
    """Why the topic's files cannot be named on the data volume, or (engine given) on the
    backup volume; None when they fit. The longest names are the temporary files of a
    compressed file (sinkfiles.longest_names)."""
    data_name, copy_name = longest_names(topic, sink_name, rotation, sink_format)
    places = [(data_name, NAME_MAX, "the data volume (sinkPath)", compress_temp_name("{file}"))]
    if engine is not None:
        places.append(
            (
                copy_name,
                ENGINE_NAME_MAX[engine],
                f"the {engine} backup volume",
                copy_temp_name("{file}"),
            )
        )
    marker = "" if sink_format is SinkFormat.VALUE else f".{sink_format}"
    for name, most, where, form in places:
        excess = len(name) - most
        if excess > 0:
            return (
                f"{topic!r} ({len(topic)} characters) is too long for its files' names on "
                f"{where}: {form} of a compressed {sink_format} file, {{file}} = "
                f"{{topic}}-{{sinkName}}-{{period}}{marker}.sink-{{epoch}}.gz, takes "
                f"{len(name)} bytes, at most {most} fit (fix: a topic "
                f"of at most {len(topic) - excess} characters with sinkName {sink_name!r}, or a "
                "shorter sinkName)"
            )
    return None


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ConnectSettings(_Model):
    url: str = DEFAULT_CONNECT_URL
    # How long to wait for a connector's tasks to be gone after PUT .../stop.
    stop_timeout_seconds: Annotated[float, Field(gt=0, alias="stopTimeoutSeconds")] = 60.0
    # Extra keys merged into every connector config (e.g. consumer overrides).
    connector_config: Annotated[dict[str, str], Field(alias="connectorConfig")] = {}

    @field_validator("connector_config")
    @classmethod
    def _extra_keys_only(cls, value: dict[str, str]) -> dict[str, str]:
        for key, text in value.items():
            if key in SINK_OWNED_KEYS:
                raise ValueError(
                    f"{key!r} is set by the supervisor for each topic's FileStreamSink: "
                    "leave it out"
                )
            if not re.fullmatch(CONFIG_NAME_PATTERN, key):
                raise ValueError(f"{key!r} is not a config name (letters, digits, '.', '_', '-')")
            if re.search(CONTROL_CHARACTERS, text):
                raise ValueError(f"{key}: {text!r} must not contain control characters")
        return value

    # A restore's hold on a connector older than this is reported (never dropped).
    hold_warn_after: Annotated[Duration, Field(alias="holdWarnAfter")] = "24h"

    @property
    def hold_warn_after_seconds(self) -> float:
        return parse_duration(self.hold_warn_after)


# A user name, client id or scope goes into a JAAS line in Connect's worker.properties (the
# chart refuses the same characters): nothing that could end a quoted value or a line.
_JAAS_SAFE = r"^[^\s\"'\\;=]+$"
_URI_SAFE = r"^https?://[^\s\"'\\;]+$"


class KafkaTlsSettings(_Model):
    enabled: bool = False
    # PEM CA certificates (the chart mounts kafka.tls.trustedCertificates here); none: the
    # system's CA store.
    trusted_certificate_files: Annotated[list[Path], Field(alias="trustedCertificateFiles")] = []


class KafkaAuthSettings(_Model):
    """kafka.authentication of the chart, with the Secrets' mounted files instead of them."""

    type: Literal["tls", "scram-sha-256", "scram-sha-512", "plain", "oauth"]
    username: Annotated[str | None, Field(pattern=_JAAS_SAFE)] = None
    password_file: Annotated[Path | None, Field(alias="passwordFile")] = None
    certificate_file: Annotated[Path | None, Field(alias="certificateFile")] = None
    key_file: Annotated[Path | None, Field(alias="keyFile")] = None
    token_endpoint_uri: Annotated[
        str | None, Field(alias="tokenEndpointUri", pattern=_URI_SAFE)
    ] = None
    client_id: Annotated[str | None, Field(alias="clientId", pattern=_JAAS_SAFE)] = None
    client_secret_file: Annotated[Path | None, Field(alias="clientSecretFile")] = None
    scope: Annotated[str | None, Field(pattern=r"^[^\"'\\;=\x00-\x1f]+$")] = None


class KafkaSettings(_Model):
    bootstrap_servers: Annotated[
        str, Field(alias="bootstrapServers", min_length=1), AfterValidator(_checked_bootstrap)
    ] = DEFAULT_BOOTSTRAP_SERVERS
    tls: KafkaTlsSettings = KafkaTlsSettings()
    authentication: KafkaAuthSettings | None = None
    # A --command-config file's security, which replaces tls / authentication (with_security).
    _override: KafkaSecurity | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _usable(self) -> KafkaSettings:
        try:
            self.security().check()
        except KafkaSecurityError as exc:
            raise ValueError(str(exc)) from None
        return self

    def with_security(self, security: KafkaSecurity) -> KafkaSettings:
        copy = self.model_copy()
        copy._override = security
        return copy

    def security(self) -> KafkaSecurity:
        if self._override is not None:
            return self._override
        tls = KafkaSecurity(
            tls=self.tls.enabled,
            trusted_certificate_files=tuple(self.tls.trusted_certificate_files),
        )
        auth = self.authentication
        if auth is None:
            return tls
        return replace(
            tls,
            auth=auth.type,
            username=auth.username,
            password_file=auth.password_file,
            certificate_file=auth.certificate_file,
            key_file=auth.key_file,
            token_endpoint_uri=auth.token_endpoint_uri,
            client_id=auth.client_id,
            client_secret_file=auth.client_secret_file,
            scope=auth.scope,
        )

    def connection(self) -> KafkaConnection:
        """What every Kafka client of the supervisor and of restore is made from."""
        return KafkaConnection(bootstrap_servers(self.bootstrap_servers), self.security())


class DrillSettings(_Model):
    """Restore drills (`kcb drill`, inspect/drill.py): the newest `records` of each topic in
    the newest snapshot (alpha.0, or the lowest backup.keep level's .0) restored into a scratch
    topic and read back; run by the supervisor after a successful cycle when enabled and the
    last full drill is older than `every`."""

    enabled: bool = False
    every: Duration = "7d"
    records: Annotated[int, Field(ge=1, le=1_000_000)] = 1000

    @property
    def every_seconds(self) -> float:
        return parse_duration(self.every)


class BackupSettings(_Model):
    enabled: bool = False
    # The original's one level: `retain alpha {retention}`, used while `keep` is empty.
    retention: Annotated[int, Field(ge=1, le=1000)] = 7
    # Levels (any of hourly/daily/weekly/monthly -> how many to keep): rsnapshot `retain`
    # levels, the lowest taken every cycle, each higher one fed by the one below when its
    # period has passed (supervisor/backup/levels.py). Empty: `retention` (alpha.N).
    keep: Annotated[
        dict[str, Annotated[int, Field(ge=1, le=1000)]], AfterValidator(_checked_keep)
    ] = Field(default_factory=dict)
    # The time of day (UTC) of the daily level; weekly on Mondays, monthly on the 1st at it.
    keep_at: Annotated[str, Field(alias="keepAt"), AfterValidator(_checked_keep_at)] = "00:00"
    # auto: an existing volume is mounted with the engine that made it (detected from its
    # config file: the original's encfs keeps working), a NEW volume is made with gocryptfs
    # (encfs's own 2014 audit calls it unsafe once an attacker sees several versions of the
    # ciphertext, which versioned snapshots on NFS are). encfs / gocryptfs choose the engine of
    # a new volume; an existing volume's detected engine still wins, with a warning.
    engine: Literal["auto", "encfs", "gocryptfs"] = "auto"
    password_file: Annotated[Path, Field(alias="passwordFile")] = Path("/etc/encrypt-key/password")
    # Ciphertext directory: the NFS volume.
    target_dir: Annotated[Path, Field(alias="targetDir")] = Path("/mnt/backup_nfs_enc")
    # Plaintext FUSE view of target_dir.
    mount_point: Annotated[Path, Field(alias="mountPoint")] = DEFAULT_MOUNT_POINT

    @property
    def levels(self) -> dict[str, int]:
        """rsnapshot's `retain` levels, lowest first: `keep`, or `{alpha: retention}`."""
        return dict(self.keep) if self.keep else {LEVEL: self.retention}

    @property
    def lowest_level(self) -> str:
        """The level every cycle's snapshot is taken as (`{lowest_level}.0` is the newest)."""
        return next(iter(self.levels))

    @property
    def newest_snapshot(self) -> str:
        """The name of the snapshot a finished cycle just wrote: alpha.0, or hourly.0 etc."""
        return f"{self.lowest_level}.0"

    @property
    def keep_at_time(self) -> time:
        hours, minutes = self.keep_at.split(":")
        return time(int(hours), int(minutes), tzinfo=UTC)

    @property
    def new_volume_engine(self) -> Engine:
        return Engine.GOCRYPTFS if self.engine == "auto" else Engine(self.engine)

    # Refuse to run unless target_dir is a mount point (a missing NFS mount must fail loudly).
    require_target_mount: Annotated[bool, Field(alias="requireTargetMount")] = True
    # Initialise a new encrypted volume, only ever on an empty target.
    allow_init: Annotated[bool, Field(alias="allowInit")] = False
    # snapshot_root = mount_point / snapshot_subdir ("" = the mount point itself).
    snapshot_subdir: Annotated[
        str, Field(alias="snapshotSubdir"), AfterValidator(_checked_subdir)
    ] = ""
    # Where rsnapshot.conf and its lock file are written (not on the backup volume).
    # The container's own /tmp: private to the supervisor (the chart mounts an emptyDir there).
    work_dir: Annotated[Path, Field(alias="workDir")] = Path("/tmp/kcb")  # noqa: S108
    drill: DrillSettings = DrillSettings()

    @model_validator(mode="after")
    def _mount_point_apart(self) -> BackupSettings:
        mount, target = self.mount_point, self.target_dir
        if mount == target or mount in target.parents or target in mount.parents:
            raise ValueError(
                f"mountPoint {str(mount)!r} and targetDir {str(target)!r} must be apart: the "
                "decrypted view cannot be mounted on (or inside, or around) its own encrypted "
                "files; choose another mountPoint (default /mnt/backup)"
            )
        return self

    @model_validator(mode="after")
    def _drill_needs_backup(self) -> BackupSettings:
        if self.drill.enabled and not self.enabled:
            raise ValueError(
                "drill.enabled needs backup.enabled: a drill restores from the backup's "
                "snapshots (enable the backup, or set drill.enabled to false)"
            )
        return self

    @property
    def snapshot_root(self) -> Path:
        return self.snapshot_root_at(self.mount_point)

    def snapshot_root_at(self, mount_point: Path) -> Path:
        """Where alpha.N live when the volume is mounted on mount_point."""
        return mount_point / self.snapshot_subdir if self.snapshot_subdir else mount_point


class MetricsSettings(_Model):
    host: str = "0.0.0.0"  # noqa: S104 (the pod's metrics port, scraped from outside)
    port: Annotated[int, Field(ge=0, le=65535)] = 9400  # 0 = disabled


class Config(_Model):
    topics: Annotated[
        list[Annotated[str, Field(pattern=TOPIC_PATTERN), AfterValidator(_checked_topic)]],
        Field(min_length=1),
    ]
    sink_name: Annotated[str, Field(alias="sinkName", pattern=r"^[a-zA-Z0-9._-]+$")] = (
        DEFAULT_SINK_NAME
    )
    sink_path: Annotated[Path, Field(alias="sinkPath"), AfterValidator(_checked_sink_path)] = (
        DEFAULT_SINK_PATH
    )
    sink_rotation: Annotated[SinkRotation, Field(alias="sinkRotation")] = SinkRotation.MONTHLY
    sink_format: Annotated[SinkFormat, Field(alias="sinkFormat")] = SinkFormat.VALUE
    restart_timeout: Annotated[Duration, Field(alias="restartTimeout")] = "23h"
    compress_after_days: Annotated[float, Field(alias="compressAfterDays", ge=0)] = 30
    reconcile_interval_seconds: Annotated[
        float, Field(alias="reconcileIntervalSeconds", gt=0), AfterValidator(_checked_reconcile)
    ] = 10.0
    # On SIGTERM a running rsnapshot may continue this long before it is stopped and its
    # incomplete alpha.0 discarded: below the pod's terminationGracePeriodSeconds, which must
    # also leave time to resume the connectors and unmount.
    shutdown_grace_seconds: Annotated[float, Field(alias="shutdownGraceSeconds", ge=0)] = 90.0
    connect: ConnectSettings = ConnectSettings()
    kafka: KafkaSettings = KafkaSettings()
    backup: BackupSettings = BackupSettings()
    metrics: MetricsSettings = MetricsSettings()
    log_level: Annotated[str, Field(alias="logLevel", pattern=r"^(DEBUG|INFO|WARNING|ERROR)$")] = (
        "INFO"
    )

    @model_validator(mode="after")
    def _envelope_owns_its_keys(self) -> Config:
        if self.sink_format is SinkFormat.ENVELOPE:
            owned = sorted(
                key
                for key in self.connect.connector_config
                if key in ENVELOPE_OWNED_KEYS or key.startswith("transforms.")
            )
            if owned:
                raise ValueError(
                    f"connect.connectorConfig sets {', '.join(owned)}: with sinkFormat "
                    "envelope the supervisor sets the converters (ByteArrayConverter) and the "
                    "envelope transform itself: leave them out"
                )
        return self

    @model_validator(mode="after")
    def _file_names_fit(self) -> Config:
        # backup.engine auto: a new volume is gocryptfs; an existing volume's engine is checked
        # again once the cycle has mounted it (supervisor/backup/snapshot.py).
        engine = self.backup.new_volume_engine if self.backup.enabled else None
        for index, topic in enumerate(self.topics):
            problem = file_name_problem(
                topic, self.sink_name, self.sink_rotation, self.sink_format, engine
            )
            if problem:
                raise ValueError(f"topics.{index}: {problem}")
        return self

    @model_validator(mode="after")
    def _levels_fit_the_cycle(self) -> Config:
        """A level's period must not be shorter than the cycle interval: a cycle takes at most
        one snapshot of the lowest level (an `hourly` every 23h would be mislabelled)."""
        cycle = self.restart_timeout_seconds
        for level in self.backup.keep:
            period = LEVEL_PERIODS[level]
            if parse_duration(period) < cycle:
                raise ValueError(
                    f"backup.keep.{level} needs restartTimeout of at most {period} (it is "
                    f"{self.restart_timeout}): lower "
                    f"restartTimeout or remove backup.keep.{level}"
                )
        return self

    @field_validator("topics")
    @classmethod
    def _unique_topics(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError(f"topics must not repeat a topic: {value}")
        return value

    @property
    def restart_timeout_seconds(self) -> float:
        return parse_duration(self.restart_timeout)


def key_path(loc: tuple[Any, ...]) -> str:
    """A key path as messages write it: `backup.retention`, `topics.0`; a key that is not a
    plain name is quoted (`connect.':'`, `'a\\nb'`, `''`), so the path stays one line and
    reads unambiguously."""
    parts = (
        str(part)
        if isinstance(part, int) or (isinstance(part, str) and re.fullmatch(r"[\w-]+", part))
        else repr(part)
        for part in loc
    )
    return ".".join(parts) or "(top level)"


def _describe(error: Any) -> str:
    message = str(error["msg"]).removeprefix("Value error, ")
    if not error["loc"]:  # a check across keys: its message starts with the key it names
        return message
    where = key_path(error["loc"])
    if error["type"] == "extra_forbidden":
        message = "unknown key (check its spelling and nesting)"
    return f"{where}: {message}"


def parse_config(data: Any, source: str = "config") -> Config:
    """Validate an already-parsed document; ConfigError lists every problem by key path."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of keys at the top level")
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        problems = [_describe(e) for e in exc.errors()]
        if len(problems) == 1:  # one line, for a log line or a terminal
            raise ConfigError(f"{source} is invalid: {problems[0]}") from None
        lines = "\n".join(f"  - {problem}" for problem in problems)
        raise ConfigError(f"{source} is invalid:\n{lines}") from None


def load_config(path: Path = DEFAULT_CONFIG_PATH, command_config: Path | None = None) -> Config:
    """The config at `path`; with `command_config` (a Java client properties file, `kcb ...
    --command-config`) its Kafka security replaces the config's."""
    config = _load(path)
    if command_config is None:
        return config
    from kafka_connect_backup.kafka.command_config import CommandConfigError, read_command_config

    try:
        security = read_command_config(command_config)
    except CommandConfigError as exc:
        raise ConfigError(str(exc)) from None
    return config.model_copy(update={"kafka": config.kafka.with_security(security)})


def _load(path: Path) -> Config:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"config file {path} is not UTF-8 text (byte {exc.start}): write it as UTF-8 YAML"
        ) from None
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 (_Loader is a SafeLoader)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {_yaml_problem(exc)}") from None
    except RecursionError:
        raise ConfigError(f"{path} is not valid YAML: nested too deeply") from None
    return parse_config(data, str(path))


class _Loader(yaml.SafeLoader):
    """safe_load, except that a scalar its constructors cannot build (`2021-13-01` is taken
    for a date, `!!int x`, `!!int` with no value, `!!timestamp x`) is a YAML error at that
    scalar, not a ValueError, IndexError or AttributeError from inside PyYAML."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, TypeError, AttributeError, OverflowError, IndexError) as exc:
            kind = str(node.tag).rsplit(":", 1)[-1]
            value = repr(node.value[:40]) if isinstance(node, yaml.ScalarNode) else "a value"
            reason = f": {exc}" if isinstance(exc, ValueError) else ""
            raise yaml.constructor.ConstructorError(
                None, None, f"{value} is not a valid {kind}{reason}", node.start_mark
            ) from None


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """PyYAML's multi-line message in one line: the problem and where (line, column)."""
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        parts = [part for part in (exc.context, exc.problem) if part]
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        return ", ".join(parts).replace("\n", " ") + where
    return " ".join(str(exc).split())
