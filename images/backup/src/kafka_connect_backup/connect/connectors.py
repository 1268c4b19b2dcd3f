"""The desired connectors (derived from the config) and the reconciler that makes Connect match.

Standalone Connect keeps connector configs in memory only, so after a worker restart the
connectors are gone; the supervisor owns them declaratively and re-creates them. One
FileStreamSink per topic, named `{topic}-{sinkName}`, writing the current period's file of the
configured sinkFormat: with `envelope`, raw bytes in (ByteArrayConverter for key, value and
headers) and the envelope transform (kafka_connect_backup/kafka/envelope.py) making each record one
JSON line. The connector's name, and so its consumer group, is the same in both formats: a
format switch carries on from the committed offsets into the other format's file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from kafka_connect_backup.config import Config, SinkFormat
from kafka_connect_backup.connect import parallel
from kafka_connect_backup.connect.hold import Hold, hold_of
from kafka_connect_backup.connect.rest import ConnectClient, ConnectError
from kafka_connect_backup.core.logs import get_logger
from kafka_connect_backup.kafka import envelope
from kafka_connect_backup.layout.sinkfiles import connector_name, sink_file

log = get_logger(__name__)

FILE_SINK_CLASS = "org.apache.kafka.connect.file.FileStreamSinkConnector"


def desired_connectors(config: Config, period: str) -> dict[str, dict[str, str]]:
    """Connector name -> full config for the given sink period."""
    desired: dict[str, dict[str, str]] = {}
    for topic in config.topics:
        name = connector_name(topic, config.sink_name)
        connector = dict(config.connect.connector_config)
        if config.sink_format is SinkFormat.ENVELOPE:
            connector.update(envelope.CONNECTOR_SETTINGS)
        path = sink_file(config.sink_path, topic, config.sink_name, period, config.sink_format)
        connector.update(
            {
                "name": name,
                "connector.class": FILE_SINK_CLASS,
                "tasks.max": "1",
                "topics": topic,
                "file": str(path),
            }
        )
        desired[name] = connector
    return desired


def connector_names(config: Config) -> list[str]:
    return [connector_name(topic, config.sink_name) for topic in config.topics]


def current_files(config: Config, period: str) -> set[Path]:
    """The files the connectors write in this period (never compressed)."""
    return {Path(c["file"]) for c in desired_connectors(config, period).values()}


@dataclass
class ReconcileResult:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    resumed: list[str] = field(default_factory=list)
    restarted: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)
    holds: list[Hold] = field(default_factory=list)  # the holds behind `held`


class Reconciler:
    """Makes the worker's connectors match the desired set.

    `before_open(file)` is called before a connector is created on a file or switched to one;
    False leaves the connector as it is (the supervisor's compress.set_aside_reopened: a file
    written before another of its topic is not appended to again)."""

    def __init__(
        self,
        config: Config,
        client: ConnectClient,
        *,
        parallelism: int = parallel.DEFAULT_LIMIT,
        before_open: Callable[[Path], bool] = lambda _file: True,
    ) -> None:
        self.config = config
        self.client = client
        self.parallelism = parallelism  # connectors reconciled at once
        self.before_open = before_open
        self._suffix = f"-{config.sink_name}"
        self._reported: dict[str, tuple[float, bool]] = {}  # connector -> (since, reported old)

    def is_held(self, name: str) -> bool:
        return hold_of(self.config.sink_path, name) is not None

    def reconcile(
        self, period: str, *, resume: bool = True, starting: bool = False
    ) -> ReconcileResult:
        """Create missing connectors, update wrong configs, and (when `resume`) resume stopped
        or paused ones and restart failed tasks. Connectors held by restore are left alone.

        Every connector is tried, `parallelism` at a time; the first error is raised after
        the others were handled (an unreachable worker's, before anything else).
        `starting`: the worker has not answered yet since the supervisor started; its REST
        API answers 404 for a moment after it first listens, so a connector's failure is
        then logged at info, not as an error (the caller reports what persists)."""
        result = ReconcileResult()
        desired = desired_connectors(self.config, period)
        existing = set(self.client.connectors())
        first_error: ConnectError | None = None
        todo: list[tuple[str, dict[str, str]]] = []
        for name, wanted in desired.items():
            hold = hold_of(self.config.sink_path, name)
            if hold is not None:
                result.held.append(name)
                result.holds.append(hold)
                continue
            todo.append((name, wanted))

        def one(item: tuple[str, dict[str, str]]) -> ReconcileResult:
            name, wanted = item
            own = ReconcileResult()
            self._reconcile_one(name, wanted, name in existing, resume, own)
            return own

        outcomes = parallel.each(one, todo, self.parallelism)
        for (name, _), outcome in zip(todo, outcomes, strict=True):
            exc = outcome.error
            if exc is None and outcome.value is not None:
                for kind in ("created", "updated", "resumed", "restarted"):
                    getattr(result, kind).extend(getattr(outcome.value, kind))
                continue
            if not isinstance(exc, ConnectError):
                raise exc if exc is not None else RuntimeError(f"no outcome for {name}")
            if exc.cause == "connect_unreachable":
                raise exc
            (log.info if starting else log.error)(
                "connector.reconcile_failed",
                connector=name,
                cause=exc.cause,
                error=exc.message,
                fix=exc.fix,
            )
            first_error = first_error or exc
        for name in sorted(existing - desired.keys()):
            # A topic removed from the config: its connector would keep sinking otherwise.
            if name.endswith(self._suffix) and not self.is_held(name):
                self.client.delete(name)
                result.removed.append(name)
                log.info("connector.removed", connector=name, reason="topic not in config")
        self._report_holds(result.holds)
        if first_error is not None:
            raise first_error
        return result

    def resume_one(self, name: str, period: str) -> ReconcileResult:
        """Upsert one connector with the period's config and resume it (a cycle's stop
        window); a connector held by restore is left alone."""
        result = ReconcileResult()
        hold = hold_of(self.config.sink_path, name)
        if hold is not None:
            result.held.append(name)
            result.holds.append(hold)
            return result
        wanted = desired_connectors(self.config, period)[name]
        self._reconcile_one(name, wanted, True, True, result)
        return result

    def _report_holds(self, holds: list[Hold]) -> None:
        """Once per hold: that the connector is left stopped, and once it is older than
        connect.holdWarnAfter, a warning (a forgotten restore keeps a topic unbacked-up)."""
        limit = self.config.connect.hold_warn_after_seconds
        current = {h.connector for h in holds}
        for name in sorted(set(self._reported) - current):
            del self._reported[name]
            log.info("connector.hold_released", connector=name)
        for hold in holds:
            since, warned = self._reported.get(hold.connector, (None, False))
            about = {
                "connector": hold.connector,
                "reason": hold.reason,
                "journal": str(hold.journal),
                "age_seconds": round(hold.age()),
            }
            if since != hold.since:
                warned = False
                log.info("connector.held", **about)
            if not warned and hold.age() > limit:
                warned = True
                log.warning(
                    "connector.hold_old",
                    **about,
                    fix="finish the restore (re-run its command: the journal records it) or "
                    f"lift the hold with restore.py --step resume-connectors; raise "
                    f"connect.holdWarnAfter ({self.config.connect.hold_warn_after}) if it is "
                    "meant to last",
                )
            self._reported[hold.connector] = (hold.since, warned)

    def _reconcile_one(
        self,
        name: str,
        wanted: dict[str, str],
        exists: bool,
        resume: bool,
        result: ReconcileResult,
    ) -> None:
        actual = self.client.config(name) if exists else None
        if (actual is None or actual.get("file") != wanted["file"]) and not self.before_open(
            Path(wanted["file"])
        ):
            if actual is None:
                return
            wanted = actual  # not switched yet, but resumed on its current file
        if actual is None:
            self.client.put_config(name, wanted)
            result.created.append(name)
            log.info("connector.created", connector=name, file=wanted["file"])
            return  # a new connector starts RUNNING
        if actual != wanted:
            self.client.put_config(name, wanted)
            result.updated.append(name)
            log.info(
                "connector.updated",
                connector=name,
                file=wanted["file"],
                changed=sorted(
                    k for k in wanted.keys() | actual.keys() if wanted.get(k) != actual.get(k)
                ),
            )
        if not resume:
            return
        status = self.client.status(name)
        if status is None:
            return
        if status.state in ("STOPPED", "PAUSED"):
            self.client.recreate(name, wanted)
            result.resumed.append(name)
            log.info("connector.resumed", connector=name, was=status.state, how="recreated")
        elif status.state == "FAILED" or "FAILED" in status.tasks:
            self.client.request(
                "POST",
                f"/connectors/{name}/restart?includeTasks=true&onlyFailed=true",
                ok=(200, 202, 204),
            )
            result.restarted.append(name)
            log.warning(
                "connector.restarted",
                connector=name,
                state=status.state,
                tasks=list(status.tasks),
                trace=status.traces[0] if status.traces else "",
            )
