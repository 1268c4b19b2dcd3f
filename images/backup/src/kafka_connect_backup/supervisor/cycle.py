"""One backup cycle: stop the connectors, compress stale files, snapshot, resume.

Staged (the default, when the data volume has room for the copies):

1. one stop window per connector, two at a time (`WINDOWS_AT_ONCE`): stop it
   (`PUT /connectors/{n}/stop`) and wait until its task is gone (the sink task has flushed,
   committed its offsets synchronously and closed the file), read its group's committed
   offsets, note its files' sizes (`staging.freeze`), then upsert it with the current
   period's file name and resume it: ALWAYS, whatever failed. A new month therefore starts a
   new file. Each connector is down for its own window only, so Connect's downtime does not
   grow with the number of topics (the standalone worker handles one request at a time: with
   every connector stopped first and resumed last, the first one stopped would wait for all);
2. write the topics' metadata files (with the sinks' offsets read in their windows);
3. compress files idle longer than compressAfterDays (never the current period's file);
4. stage the sink directory as it was at the stops (hard links, and prefix copies of the
   files being written: `staging.stage`), then mount, prune, rsnapshot the staging
   directory, verify, unmount (`snapshot.backup_snapshot`).

Connect is therefore down for the stop and the resume only, whatever the size of the data.
When the data volume has no room for the prefix copies (or with stage=False), every connector
is stopped, then the metadata is recorded and steps 3 and 4 run on the sink directory itself
before the connectors are resumed, as in the original. Without backup, a cycle is step 1 (its
windows rotate the files monthly) and step 3.

A failure anywhere is one `cycle.failed` event naming the cause and the fix, a failure metric,
and Connect resumed; the next cycle tries again. Every event of a cycle carries its `cycle_id`.
"""

from __future__ import annotations

import errno
import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import structlog

from kafka_connect_backup.config import Config
from kafka_connect_backup.connect import parallel
from kafka_connect_backup.connect.connectors import (
    Reconciler,
    connector_names,
    current_files,
    desired_connectors,
)
from kafka_connect_backup.connect.rest import ConnectClient
from kafka_connect_backup.core.errors import KcbError
from kafka_connect_backup.core.logs import get_logger
from kafka_connect_backup.core.shutdown_grace import StoppedPastGrace
from kafka_connect_backup.layout.sinkfiles import connector_name, period_of
from kafka_connect_backup.layout.snapshot_status import Committed
from kafka_connect_backup.supervisor import staging
from kafka_connect_backup.supervisor.backup.snapshot import (
    SnapshotResult,
    backup_snapshot,
)
from kafka_connect_backup.supervisor.compress import (
    CompressResult,
    compress_stale,
    set_aside_reopened,
)
from kafka_connect_backup.supervisor.kafka_outage import KafkaOutage
from kafka_connect_backup.supervisor.metrics import Metrics
from kafka_connect_backup.supervisor.offsets import StopRecorder
from kafka_connect_backup.supervisor.staging import FrozenFile
from kafka_connect_backup.supervisor.stop_window import (
    SLOW_STOP_CAUSE,
    SLOW_STOP_NOTE,
    SLOW_STOP_SECONDS,
    StopWindow,
    Window,
)
from kafka_connect_backup.supervisor.volume_lock import sink_path_missing

log = get_logger(__name__)

Clock = Callable[[], datetime]

# Stop windows open at once. The standalone worker handles one request at a time, so more
# windows only queue each one's resume behind the others' requests: measured with 100
# connectors (docs/benchmarks.md), 2 at once keep a connector's window near 0.2-0.4 s, 16 made
# it several seconds; the whole round takes about as long either way.
WINDOWS_AT_ONCE = 2


def utc_now() -> datetime:
    return datetime.now(UTC)


# The storage steps, injectable so a test can observe the world between the cycle's steps.
CompressFn = Callable[[Config, datetime], CompressResult]


class SnapshotFn(Protocol):
    def __call__(
        self,
        config: Config,
        *,
        source_dir: Path | None = None,
        stop_requested: Callable[[], bool] = ...,
        committed: Committed | None = None,
        now: Callable[[], datetime] = ...,
    ) -> SnapshotResult: ...


default_compress: CompressFn = compress_stale
default_snapshot: SnapshotFn = backup_snapshot


class CycleAborted(Exception):
    """Shutdown requested: the remaining steps are skipped, the connectors still resumed."""


@dataclass
class CycleResult:
    cycle_id: str
    ok: bool = False
    aborted: bool = False
    cause: str | None = None
    step: str | None = None
    error: str | None = None
    fix: str | None = None  # what to do about the cause, for kcb status
    duration_seconds: float = 0.0
    connect_downtime_seconds: float | None = None
    stopped: list[str] = field(default_factory=list)
    compressed: list[Path] = field(default_factory=list)  # the .gz files written
    snapshot: SnapshotResult | None = None
    resumed: list[str] = field(default_factory=list)
    period: str = ""
    # True when the snapshot was taken from the staging directory after Connect resumed.
    staged: bool = False
    # Connectors whose PUT /stop outlasted Connect's graceful task shutdown (stop_window.py).
    slow_stops: dict[str, float] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {
            "cycleId": self.cycle_id,
            "ok": self.ok,
            "aborted": self.aborted,
            "cause": self.cause,
            "step": self.step,
            "error": self.error,
            "fix": self.fix,
            "durationSeconds": round(self.duration_seconds, 3),
            "connectDowntimeSeconds": (
                None
                if self.connect_downtime_seconds is None
                else round(self.connect_downtime_seconds, 3)
            ),
            "stopped": self.stopped,
            "compressed": [str(c) for c in self.compressed],
            "resumed": self.resumed,
            "period": self.period,
            "staged": self.staged,
            "slowStops": {name: round(s, 3) for name, s in self.slow_stops.items()},
            "snapshot": (
                None
                if self.snapshot is None
                else {
                    "name": self.snapshot.name,
                    "files": self.snapshot.files,
                    "bytes": self.snapshot.bytes,
                    "engine": self.snapshot.engine.value,
                    "pruned": self.snapshot.pruned,
                    "promoted": self.snapshot.promoted,
                }
            ),
        }


def classify(exc: BaseException) -> tuple[str, str]:
    """(cause, fix) of any exception: KcbError carries its own; OSError by errno."""
    if isinstance(exc, KcbError):
        return exc.cause, exc.fix
    if isinstance(exc, OSError):
        if exc.errno == errno.ENOSPC:
            return "disk_full", "free space on the volume named in the error or grow it"
        if exc.errno in (errno.EACCES, errno.EPERM):
            return "permission_denied", "check the ownership and mode of the path in the error"
        return "io_error", "check the path and the volume named in the error"
    return "unexpected", "report a bug with this log event; the next cycle tries again"


class Cycle:
    """Runs cycles against one Connect worker; the daemon and `kcb backup-now` share it."""

    def __init__(
        self,
        config: Config,
        client: ConnectClient,
        metrics: Metrics,
        *,
        clock: Clock = utc_now,
        compress: CompressFn = default_compress,
        snapshot: SnapshotFn = default_snapshot,
        should_abort: Callable[[], bool] = lambda: False,
        poll_interval: float = 0.1,
        stage: bool = True,
        staging_margin: staging.Margin = staging.DEFAULT_MARGIN,
        parallelism: int = WINDOWS_AT_ONCE,
        in_window: Callable[[str], None] = lambda _name: None,
    ) -> None:
        self.config = config
        self.client = client
        self.metrics = metrics
        self.clock = clock
        self.compress = compress
        self.snapshot = snapshot
        self.should_abort = should_abort
        # False: always snapshot with the connectors stopped (the original's way; benchmarks).
        self.stage = stage
        # Free space the staging copies must leave on the data volume (tests pin it).
        self.staging_margin = staging_margin
        self._step = "stop"
        self._committed: Committed | None = None  # the sinks' offsets at this cycle's stop
        self._at_stop: dict[str, dict[int, int]] = {}  # topic -> its sink's, read in its window
        self.poll_interval = poll_interval
        # Stop windows at once (and, on the stopped path, connectors stopped and resumed at once).
        self.parallelism = parallelism
        # Called in each stop window once the connector is stopped and its files noted (tests).
        self.in_window = in_window
        self.reconciler = Reconciler(
            config, client, before_open=lambda path: not set_aside_reopened([path], self.clock())
        )
        # One Kafka client for all cycles; its outages reported once (the daemon's lag
        # observer reports into the same).
        self.kafka_outage = KafkaOutage(metrics)
        self._offsets = StopRecorder(config, outage=self.kafka_outage)

    def run(self) -> CycleResult:
        result = CycleResult(cycle_id=uuid.uuid4().hex[:12])
        with structlog.contextvars.bound_contextvars(cycle_id=result.cycle_id):
            self._run(result)
        return result

    # -- steps ----------------------------------------------------------------------------

    def _run(self, result: CycleResult) -> None:
        started = time.monotonic()
        down_since: float | None = None
        resumed = False
        self._step = "stop"
        self.metrics.cycle_in_progress.set(1)
        log.info("cycle.start", topics=list(self.config.topics))
        backup = self.config.backup.enabled
        # The clock is read once per cycle: the files noted as being written, the compression
        # cut-off and the resumed connectors' file must all name the same period, or at a month
        # boundary staging would hard-link the new file that Connect is growing.
        now = self.clock()
        self._committed = None
        self._at_stop = {}
        try:
            missing = sink_path_missing(self.config)
            if missing is not None:
                # Before anything is stopped: a stopped connector could not resume on it.
                resumed = True
                raise missing
            # Before the files are noted: a file the windows would point a connector at again
            # after another file of its topic is set aside now, not under the frozen view.
            set_aside_reopened(
                current_files(self.config, period_of(now, self.config.sink_rotation)), now
            )
            frozen = self._room_to_stage(now) if backup else None
            if frozen is not None or not backup:
                result.staged = frozen is not None
                written, resumed = self._stop_windows(result, now, frozen)
                if frozen is not None:
                    self._record_metadata()
                self._compress_step(result, now)
                if frozen is not None:
                    self._check_abort("stage")
                    self._step = "stage"
                    staged = staging.stage(self.config.sink_path, frozen, written)
                    self._backup_step(result, staged, now)
                else:
                    log.info("cycle.backup_skipped", reason="backup.enabled is false")
            else:
                # Not enough room to stage: snapshot the sink directory itself, stopped.
                down_since = time.monotonic()
                result.stopped = self._stop_all(now)
                self._record_metadata(stopped=True)
                self._compress_step(result, now)
                self._backup_step(result, self.config.sink_path, now)
                self._step = "resume"
                resumed = True
                self._resume_all(result, down_since, now)
        except CycleAborted as exc:
            result.aborted = True
            result.step = str(exc)
            log.warning("cycle.aborted", skipped_from=str(exc), reason="shutdown requested")
        except StoppedPastGrace as exc:
            # Shutdown during the snapshot, past shutdownGraceSeconds: no snapshot this cycle.
            result.aborted = True
            result.step = "backup"
            result.error = exc.message
            log.warning(
                "cycle.aborted",
                skipped_from="backup",
                reason="shutdown requested",
                detail=exc.message,
                fix=exc.fix,
            )
        except Exception as exc:  # noqa: BLE001 (any failure is recorded; the connectors resume)
            self._fail(result, self._step, exc)
        finally:
            if not resumed:
                self._resume_all(result, down_since, now)
            if backup:
                staging.clear(self.config.sink_path)
            result.duration_seconds = time.monotonic() - started
            self._finish(result)

    def _room_to_stage(self, now: datetime) -> dict[str, FrozenFile] | None:
        """Every sink file's size now, when the copies of the files being written fit on the
        data volume (each stop window notes its own files again); None (snapshot while
        stopped) otherwise."""
        if not self.stage:
            return None
        written = self._files_being_written(now)
        self._step = "stage"
        frozen = staging.freeze(self.config.sink_path)
        room = staging.has_room(self.config.sink_path, frozen, written, self.staging_margin)
        self._step = "stop"
        if room:
            return frozen
        log.warning(
            "cycle.staging_skipped",
            reason="not enough free space on the data volume to stage the files being written",
            bytes_needed=sum(frozen[p.name].size for p in written if p.name in frozen),
            fix="grow the data volume (or rotate daily); meanwhile Connect stays stopped "
            "during the snapshot, as in the original",
        )
        return None

    def _files_being_written(self, now: datetime) -> set[Path]:
        """The files the owned connectors' configs name (the last period's at a month
        boundary) and the current period's."""
        owned = set(connector_names(self.config))
        files = {
            Path(c["file"]) for name, c in self.client.configs().items()
            if name in owned and c.get("file")
        }  # fmt: skip
        return files | current_files(self.config, period_of(now, self.config.sink_rotation))

    def _stop_window(self, period: str, *, offsets: bool) -> StopWindow:
        """The cycle's way to stop and resume its connectors for `period` (stop_window.py);
        `offsets`: read each sink group's offsets in its window."""
        return StopWindow(
            self.client,
            self.reconciler,
            period,
            current={
                n: Path(c["file"]) for n, c in desired_connectors(self.config, period).items()
            },
            offsets=self._offsets if offsets else None,
            stop_timeout=self.config.connect.stop_timeout_seconds,
            poll_interval=self.poll_interval,
            should_abort=self.should_abort,
            stopped=self.in_window,
            parallelism=self.parallelism,
        )

    def _stop_windows(
        self, result: CycleResult, now: datetime, frozen: dict[str, FrozenFile] | None
    ) -> tuple[set[Path], bool]:
        """One stop window per connector, `parallelism` at a time (stop_window.py). Updates
        `frozen` with each connector's files as they were in its window; returns the files
        the connectors were writing, and whether every connector was resumed."""
        period = period_of(now, self.config.sink_rotation)
        result.period = period
        window = self._stop_window(period, offsets=frozen is not None)
        topics = {connector_name(t, self.config.sink_name): t for t in self.config.topics}
        began = time.monotonic()
        outcomes = parallel.each(
            lambda name: window.run(name, topics[name]), list(topics), self.parallelism
        )
        windows = [o.value for o in outcomes if o.value is not None]
        self._at_stop = {w.topic: w.offsets for w in windows if w.offsets}
        result.stopped = [w.name for w in windows if w.stopped]
        result.resumed = [w.name for w in windows if w.running]
        missing = sorted(w.name for w in windows if not w.existed)
        if missing:
            log.warning("connectors.missing_at_stop", connectors=missing)
        self._report_windows(result, windows, period, time.monotonic() - began)
        _raise_first([o.error for o in outcomes if o.error is not None], windows)
        if self.should_abort() and len(windows) < len(topics):
            raise CycleAborted("stop")
        # A connector missing at the stop, or whose resume failed, is left to the safety net.
        return _gather(windows, frozen), _all_resumed(windows)

    def _report_windows(
        self, result: CycleResult, windows: list[Window], period: str, seconds: float
    ) -> None:
        """The round's downtime metrics and events: stopped, resumed, slow, not running."""
        held = sorted({h for w in windows for h in w.held})
        downtimes = [w.seconds for w in windows if w.stopped]
        if downtimes:
            self._observe_downtime(result, max(downtimes))
        log.info("connectors.stopped", connectors=result.stopped, windows=True)
        log.info(
            "connectors.resumed",
            connectors=result.resumed,
            held=held,
            period=period,
            connect_downtime_seconds=_rounded(result.connect_downtime_seconds),
            median_window_seconds=(round(statistics.median(downtimes), 3) if downtimes else None),
            seconds=round(seconds, 3),
        )
        result.slow_stops = self._report_slow_stops(windows)
        for w in windows:
            if w.stopped and not w.running and w.name not in held:
                log.warning(
                    "connector.not_running_after_resume",
                    connector=w.name,
                    state=w.state,
                    fix="read the connect container's log; the reconciler keeps trying",
                )

    def _observe_downtime(self, result: CycleResult, seconds: float) -> None:
        result.connect_downtime_seconds = seconds
        self.metrics.connect_downtime.observe(seconds)
        self.metrics.last_connect_downtime.set(seconds)

    def _report_slow_stops(self, windows: list[Window]) -> dict[str, float]:
        """A stop that outlasted Connect's graceful task shutdown: the backup is still taken,
        but Connect was down longer than it should and cancelled the task, so it is said
        (one warning and one failure count per connector) instead of a silent OK."""
        slow = {w.name: w.stop_seconds for w in windows if w.stop_seconds >= SLOW_STOP_SECONDS}
        for name, seconds in slow.items():
            self.metrics.failures.labels(cause=SLOW_STOP_CAUSE, step="stop").inc()
            log.warning(
                "connector.stop_slow",
                connector=name,
                stop_seconds=round(seconds, 3),
                cause=SLOW_STOP_CAUSE,
                note=SLOW_STOP_NOTE,
            )
        return slow

    def _record_metadata(self, *, stopped: bool = False) -> None:
        """The topics' metadata files and the sinks' offsets for the snapshot's marker:
        read now when every connector is `stopped`, else those read in the stop windows."""
        began = time.monotonic()
        self._committed = self._offsets.record(None if stopped else self._at_stop)
        log.info(
            "cycle.offsets_read",
            recorded=self._committed is not None,
            seconds=round(time.monotonic() - began, 3),
        )

    def _compress_step(self, result: CycleResult, now: datetime) -> None:
        self._check_abort("compress")
        self._step = "compress"
        try:
            self._compress(result, now)
        except Exception as exc:  # noqa: BLE001
            # Compression failing leaves every source intact: still take the backup.
            self._fail(result, "compress", exc)

    def _backup_step(self, result: CycleResult, source: Path, now: datetime) -> None:
        self._check_abort("backup")
        self._step = "backup"
        result.snapshot = self._backup(source, now)

    def _compress(self, result: CycleResult, now: datetime) -> None:
        compressed = self.compress(self.config, now)
        result.compressed = [c.target for c in compressed.compressed]
        self.metrics.compressed_files.inc(len(result.compressed))
        log.info(
            "cycle.compressed",
            files=[str(c) for c in result.compressed],
            bytes_in=compressed.bytes_in,
            recovered=[str(p) for p in compressed.recovered],
        )

    def _check_abort(self, next_step: str) -> None:
        if self.should_abort():
            raise CycleAborted(next_step)

    def _stop_all(self, now: datetime) -> list[str]:
        """Stop every owned connector and wait until its tasks are gone (stop_window.py);
        returns the connectors stopped."""
        window = self._stop_window(period_of(now, self.config.sink_rotation), offsets=False)
        names = connector_names(self.config)
        stopped = [w.name for w in window.stop_all(names)]
        missing = sorted(set(names) - set(stopped))
        if missing:
            log.warning("connectors.missing_at_stop", connectors=missing)
        log.info("connectors.stopped", connectors=stopped)
        return stopped

    def _backup(self, source: Path, now: datetime) -> SnapshotResult:
        began = time.monotonic()
        snapshot = self.snapshot(
            self.config,
            source_dir=source,
            stop_requested=self.should_abort,
            committed=self._committed,
            now=lambda: now,  # the cycle's one reading of its clock: which levels are due
        )
        elapsed = time.monotonic() - began
        self.metrics.snapshot_step_duration.set(elapsed)
        self.metrics.snapshot_duration.set(snapshot.snapshot_seconds)
        self.metrics.rsnapshot_duration_deprecated.set(snapshot.snapshot_seconds)
        self.metrics.backup_files.set(snapshot.files)
        self.metrics.backup_bytes.set(snapshot.bytes)
        self.metrics.backed_up_bytes.inc(snapshot.bytes)
        self.metrics.observe_snapshots(
            {t: (p.snapshot, p.taken_at) for t, p in snapshot.recovery.items()}, snapshot.counts
        )
        log.info(
            "cycle.snapshot_taken",
            engine=snapshot.engine.value,
            files=snapshot.files,
            bytes=snapshot.bytes,
            pruned=snapshot.pruned,
            promoted=snapshot.promoted,
            seconds=round(elapsed, 3),
            snapshot_seconds=round(snapshot.snapshot_seconds, 3),
            source=str(source),
        )
        return snapshot

    def _resume_all(self, result: CycleResult, down_since: float | None, now: datetime) -> None:
        """Upsert every connector with the file of the cycle's period and resume it (finally;
        stop_window.py)."""
        period = period_of(now, self.config.sink_rotation)
        result.period = period
        try:
            held, statuses = self._stop_window(period, offsets=False).resume_all()
            for name, status in statuses.items():
                if status is None or not status.running:
                    log.warning(
                        "connector.not_running_after_resume",
                        connector=name,
                        state=status.state if status else "missing",
                        tasks=list(status.tasks) if status else [],
                        fix="read the connect container's log; the reconciler keeps trying",
                    )
                else:
                    result.resumed.append(name)
            if down_since is not None:
                self._observe_downtime(result, time.monotonic() - down_since)
            log.info(
                "connectors.resumed",
                connectors=result.resumed,
                held=held,
                period=period,
                connect_downtime_seconds=_rounded(result.connect_downtime_seconds),
            )
        except Exception as exc:  # noqa: BLE001 (recorded; the next reconcile retries)
            if result.cause is None:
                self._fail(result, "resume", exc)
            else:
                cause, fix = classify(exc)
                self.metrics.failures.labels(cause=cause, step="resume").inc()
                log.error("connectors.resume_failed", cause=cause, error=str(exc), fix=fix)

    def _fail(self, result: CycleResult, step: str, exc: BaseException) -> None:
        """One `cycle.failed` event and metric per failure; the result keeps the first."""
        cause, fix = classify(exc)
        error = exc.message if isinstance(exc, KcbError) else f"{type(exc).__name__}: {exc}"
        if result.cause is None:
            result.cause, result.step, result.error, result.fix = cause, step, error, fix
        self.metrics.failures.labels(cause=cause, step=step).inc()
        log.error(
            "cycle.failed",
            step=step,
            cause=cause,
            error=error,
            fix=fix,
            exc_info=cause == "unexpected",
        )

    def _finish(self, result: CycleResult) -> None:
        result.ok = result.cause is None and not result.aborted
        self.metrics.cycle_in_progress.set(0)
        self.metrics.cycle_duration.observe(result.duration_seconds)
        self.metrics.last_cycle_duration.set(result.duration_seconds)
        self.metrics.last_cycle_end.set(time.time())
        if result.aborted:
            self.metrics.cycles.labels(result="aborted").inc()
        elif result.ok:
            self.metrics.cycles.labels(result="success").inc()
            self.metrics.last_success.set(time.time())
        else:
            self.metrics.cycles.labels(result="failure").inc()
        log.info(
            "cycle.done",
            ok=result.ok,
            aborted=result.aborted,
            cause=result.cause,
            duration_seconds=round(result.duration_seconds, 3),
            connect_downtime_seconds=(
                None
                if result.connect_downtime_seconds is None
                else round(result.connect_downtime_seconds, 3)
            ),
        )


def _gather(windows: list[Window], frozen: dict[str, FrozenFile] | None) -> set[Path]:
    """The files the windows' connectors were writing; their sizes at the stop into `frozen`."""
    written: set[Path] = set()
    for w in windows:
        written |= w.written
        if frozen is not None:
            frozen.update(w.frozen)
    return written


def _rounded(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 3)


def _raise_first(errors: list[BaseException], windows: list[Window]) -> None:
    """A window that failed, else one whose task outlived the stop timeout: the cycle fails."""
    first = errors[0] if errors else next((w.error for w in windows if w.error), None)
    if first is not None:
        raise first


def _all_resumed(windows: list[Window]) -> bool:
    return all(w.existed and w.resume_error is None for w in windows)
