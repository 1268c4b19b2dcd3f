"""The supervisor loop: reconcile connectors every reconcileIntervalSeconds, run a cycle every
restartTimeout (and on demand), serve /healthz, /readyz and /metrics, stop cleanly on
SIGTERM/SIGINT.

Everything that talks to Connect runs on the loop's thread, so a reconcile never races a cycle
(the reconciler would otherwise resume connectors the cycle just stopped). The HTTP thread only
asks for a cycle; the signal handler only sets a flag (nothing that takes a lock).

On SIGTERM during a cycle the current step finishes, the remaining steps are skipped, the
connectors are resumed, the backup is unmounted, exit 0. A running rsnapshot gets at most
shutdownGraceSeconds (below the pod's terminationGracePeriodSeconds, so Kubernetes never
SIGKILLs it): then its process group is stopped and its incomplete alpha.0 discarded, the
previous snapshot kept intact (supervisor/backup/interrupted.py).
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

import requests

from kafka_connect_backup.config import Config
from kafka_connect_backup.connect.connectors import Reconciler
from kafka_connect_backup.connect.rest import ConnectClient, ConnectError
from kafka_connect_backup.core.errors import KcbError
from kafka_connect_backup.core.exit_codes import EXIT_OK
from kafka_connect_backup.core.logs import get_logger
from kafka_connect_backup.inspect.verify_record import load_last_verification
from kafka_connect_backup.kafka.admin import KafkaAdmin, KafkaCheckError
from kafka_connect_backup.layout.sinkfiles import period_of
from kafka_connect_backup.supervisor import status
from kafka_connect_backup.supervisor.compress import set_aside_reopened
from kafka_connect_backup.supervisor.cycle import (
    Clock,
    CompressFn,
    Cycle,
    CycleResult,
    SnapshotFn,
    default_compress,
    default_snapshot,
    utc_now,
)
from kafka_connect_backup.supervisor.drills import ScheduledDrills
from kafka_connect_backup.supervisor.health import HealthServer
from kafka_connect_backup.supervisor.metrics import Metrics
from kafka_connect_backup.supervisor.state import load_state, save_state
from kafka_connect_backup.tools import fuse
from kafka_connect_backup.tools.volume import read_password

log = get_logger(__name__)

_TICK = 0.2  # seconds: how quickly the loop notices a signal or an on-demand request


def register_password(config: Config) -> None:
    """Mask the encryption password in every log event, should it ever reach one."""
    if not config.backup.enabled:
        return
    # A missing password file is reported by the backup step, with its fix.
    with contextlib.suppress(KcbError):
        read_password(config.backup.password_file)


# The chart's connect startupProbe gives the worker 5 s x 60 before the kubelet restarts it.
CONNECT_STARTUP_GRACE_SECONDS = 300.0
# The lag and newest-record gauges are refreshed this often (seconds), from the reconcile loop.
TOPIC_OBSERVE_INTERVAL = 60.0

# One readiness look at Connect; below the chart's probe timeoutSeconds (5).
READY_CONNECT_TIMEOUT_SECONDS = 3.0


class Supervisor:
    def __init__(
        self,
        config: Config,
        *,
        clock: Clock = utc_now,
        compress: CompressFn = default_compress,
        snapshot: SnapshotFn = default_snapshot,
        metrics: Metrics | None = None,
        connect_attempts: int = 5,
        http: bool = True,
    ) -> None:
        self.config = config
        self.clock = clock
        self.metrics = metrics or Metrics()
        self._stopping = False
        self._lock = threading.Condition()
        self._pending = False  # an on-demand cycle is wanted
        self._completed = 0  # cycles finished since start
        self._last: CycleResult | None = None
        self._heartbeat = time.monotonic()
        self._in_cycle = False
        self._next_cycle_at = 0.0
        self._last_reconcile_error: str | None = None
        self._started = time.monotonic()
        self._connect_ready = False  # a reconcile has succeeded since this start
        self._kafka: KafkaAdmin | None = None  # for the status and the lag metrics
        # The HTTP thread (GET /status) and the loop share one Admin client, one at a time.
        self._kafka_lock = threading.Lock()
        self._topics_observed_at = -TOPIC_OBSERVE_INTERVAL
        self.cycle_client = ConnectClient(config.connect.url, attempts=connect_attempts)
        # The reconcile loop gives up sooner: it runs again in a few seconds anyway.
        self.reconcile_client = ConnectClient(
            config.connect.url, attempts=2, backoff_max=2.0, timeout=10.0
        )
        self.cycle = Cycle(
            config,
            self.cycle_client,
            self.metrics,
            clock=clock,
            compress=compress,
            snapshot=snapshot,
            should_abort=lambda: self._stopping,
        )
        self.reconciler = Reconciler(
            config,
            self.reconcile_client,
            before_open=lambda path: not set_aside_reopened([path], self.clock()),
        )
        self.drills = ScheduledDrills(config, self.metrics, should_abort=lambda: self._stopping)
        self._in_drill = False
        self.http: HealthServer | None = None
        if http and config.metrics.port:
            self.http = HealthServer(config.metrics.host, config.metrics.port, self, self.metrics)

    # -- control --------------------------------------------------------------------------

    def request_stop(self, _signum: int | None = None, _frame: FrameType | None = None) -> None:
        # Signal handler: set a flag only (no locks, no logging from inside the handler).
        self._stopping = True

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)

    def request_cycle(self, wait: bool, timeout: float) -> dict[str, Any]:
        with self._lock:
            self._pending = True
            # A cycle already running may have passed its snapshot: the request gets the next.
            ticket = self._completed + (2 if self._in_cycle else 1)
            log.info("cycle.requested", wait=wait)
            if not wait:
                return {"accepted": True, "done": False}
            done = self._lock.wait_for(
                lambda: self._completed >= ticket or self._stopping, timeout=timeout
            )
            last = self._last.summary() if self._last and self._completed >= ticket else None
            return {"accepted": True, "done": bool(done and last), "cycle": last}

    # -- endpoint callbacks ---------------------------------------------------------------

    def health(self) -> tuple[bool, dict[str, Any]]:
        age = time.monotonic() - self._heartbeat
        limit = max(60.0, 3 * self.config.reconcile_interval_seconds)
        # A cycle and a drill block the loop for as long as they take.
        healthy = self._in_cycle or self._in_drill or age < limit
        return healthy, {
            "loopAgeSeconds": round(age, 1),
            "cycleInProgress": self._in_cycle,
            "drillInProgress": self._in_drill,
        }

    def backup_status(self) -> dict[str, Any]:
        """GET /status and `kcb status`: the loop's state and supervisor/status.py's document."""
        loop = self.status()
        with self._kafka_lock:
            document = status.collect(self.config, admin=self._admin(), supervisor=loop)
        return {**loop, **document}

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        """Ready: the loop is alive, not stopping, and Connect's REST API answers `GET
        /connectors` with 200, asked afresh on every probe from the HTTP thread (its own
        request, never the loop's clients, so a running cycle neither blocks nor is blocked by
        it).

        Deliberately not the connectors' state: every cycle stops them and a restore holds them
        stopped, while the worker keeps answering, so a planned stop never makes the pod
        unready. Unready means the supervisor cannot manage Connect (the worker is starting,
        restarting or wedged); the chart's metrics Service publishes unready addresses, so the
        metrics that explain it stay scrapable."""
        alive, detail = self.health()
        connect = self._connect_answers()
        ready = alive and not self._stopping and connect["answers"]
        return ready, {**detail, "stopping": self._stopping, "connect": connect}

    def _connect_answers(self) -> dict[str, Any]:
        url = f"{self.config.connect.url.rstrip('/')}/connectors"
        try:
            response = requests.get(url, timeout=READY_CONNECT_TIMEOUT_SECONDS)
        except requests.RequestException as exc:
            return {"answers": False, "url": url, "error": f"{type(exc).__name__}: {exc}"[:300]}
        if response.status_code != 200:
            return {
                "answers": False,
                "url": url,
                "error": f"HTTP {response.status_code}: {response.text[:200]}",
            }
        return {"answers": True, "url": url}

    def status(self) -> dict[str, Any]:
        """The loop's own state (cheap: no Kafka, no files)."""
        return {
            "cycleInProgress": self._in_cycle,
            "drillInProgress": self._in_drill,
            "cyclesCompleted": self._completed,
            "nextCycleInSeconds": round(max(0.0, self._next_cycle_at - time.monotonic()), 1),
            "lastCycle": self._last.summary() if self._last else None,
            "lastReconcileError": self._last_reconcile_error,
            "stopping": self._stopping,
        }

    # -- loop -----------------------------------------------------------------------------

    def run(self) -> int:
        register_password(self.config)
        log.info(
            "supervisor.start",
            topics=list(self.config.topics),
            connect_url=self.config.connect.url,
            restart_timeout=self.config.restart_timeout,
            backup_enabled=self.config.backup.enabled,
            engine=self.config.backup.engine,
            metrics_port=self.config.metrics.port,
        )
        # A supervisor killed outright (kill -9) leaves its FUSE view mounted, and every cycle
        # would refuse the busy mount point: nothing else mounts there, so it is stale.
        self._unmount_leftover()
        if self.http is not None:
            self.http.start()
        self.metrics.up.set(1)
        self._observe(self.drills.refresh, self._observe_verify)
        interval = self.config.restart_timeout_seconds
        self._next_cycle_at = time.monotonic() + self._first_cycle_delay(interval)
        next_reconcile = 0.0
        try:
            while not self._stopping:
                self._heartbeat = now = time.monotonic()
                if self._pending or now >= self._next_cycle_at:
                    self._run_cycle()
                    self._next_cycle_at = time.monotonic() + interval
                    next_reconcile = time.monotonic() + self.config.reconcile_interval_seconds
                elif now >= next_reconcile:
                    self._reconcile()
                    # A `kcb drill` or `kcb snapshots verify` run through kubectl exec.
                    self._observe(self.drills.refresh, self._observe_verify)
                    next_reconcile = time.monotonic() + self.config.reconcile_interval_seconds
                else:
                    time.sleep(_TICK)
        finally:
            self._shutdown()
        return EXIT_OK

    def run_once(self) -> CycleResult:
        """One cycle without the loop (`kcb backup-now` when no supervisor answers)."""
        register_password(self.config)
        try:
            result = self.cycle.run()
        finally:
            self._unmount_leftover()
        save_state(self.config, result)
        return result

    def _first_cycle_delay(self, interval: float) -> float:
        """restartTimeout after the previous cycle (persisted), so a pod that restarts more
        often than restartTimeout still backs up; never before the first reconcile."""
        state = load_state(self.config)
        if state.last_success:
            self.metrics.last_success.set(state.last_success)
        # The recovery point and snapshot counts of the last backup, until this one's first
        # cycle measures them again (the volume is mounted only during a cycle).
        self.metrics.observe_snapshots(state.recovery(), state.snapshot_counts)
        if not state.last_cycle_end:
            return interval
        due = state.last_cycle_end + interval - time.time()
        delay = min(interval, max(due, 2 * self.config.reconcile_interval_seconds))
        log.info(
            "supervisor.schedule",
            last_cycle_end=state.last_cycle_end,
            last_success=state.last_success,
            next_cycle_in_seconds=round(delay, 1),
        )
        return delay

    def _run_cycle(self) -> None:
        with self._lock:
            self._pending = False
            self._in_cycle = True
        try:
            result = self.cycle.run()
        finally:
            with self._lock:
                self._in_cycle = False
        save_state(self.config, result)
        with self._lock:
            self._last = result
            self._completed += 1
            self._lock.notify_all()
        # After the cycle (connectors resumed) and after answering `kcb backup-now`.
        self._in_drill = True
        try:
            self.drills.after_cycle(result.ok and not self._stopping)
        finally:
            self._in_drill = False

    def _reconcile(self) -> None:
        starting = (
            not self._connect_ready
            and time.monotonic() - self._started < CONNECT_STARTUP_GRACE_SECONDS
        )
        try:
            outcome = self.reconciler.reconcile(
                period_of(self.clock(), self.config.sink_rotation), starting=starting
            )
        except ConnectError as exc:
            if self._connect_starting(exc):
                return
            # One event per change of error, not one every few seconds while Connect is down.
            if exc.message != self._last_reconcile_error:
                log.error("reconcile.failed", cause=exc.cause, error=exc.message, fix=exc.fix)
            self._last_reconcile_error = exc.message
            self.metrics.failures.labels(cause=exc.cause, step="reconcile").inc()
            return
        if self._last_reconcile_error is not None:
            log.info("reconcile.recovered" if self._connect_ready else "reconcile.connect_ready")
            self._last_reconcile_error = None
        self._connect_ready = True
        self.metrics.connectors_held.set(len(outcome.holds))
        self.metrics.oldest_hold_age.set(max((h.age() for h in outcome.holds), default=0))
        for action in ("created", "updated", "resumed", "restarted", "removed"):
            count = len(getattr(outcome, action))
            if count:
                self.metrics.reconcile_changes.labels(action=action).inc(count)
        self._observe(self._observe_topics)

    def _observe(self, *observations: Callable[[], None]) -> None:
        """Refresh gauges and baselines from files and Kafka: one that fails is logged and
        counted, never the end of the supervisor (its cycles are the backup)."""
        for observe in observations:
            try:
                observe()
            except Exception as exc:  # reported; the loop goes on
                log.exception(
                    "observe.error",
                    cause="unexpected",
                    what=getattr(observe, "__name__", str(observe)),
                    error=f"{type(exc).__name__}: {exc}",
                    fix="report a bug with this log event; the backup cycles go on",
                )
                self.metrics.failures.labels(cause="unexpected", step="observe").inc()

    def _observe_verify(self) -> None:
        """The kcb_verify_* gauges from the last `kcb snapshots verify` record, if any."""
        record = load_last_verification(self.config)
        if record is not None:
            self.metrics.verify_last_result.set(1 if record.ok else 0)
            self.metrics.verify_last_end.set(record.finished_at)
            self.metrics.verify_problems.set(record.problems)

    def _admin(self) -> KafkaAdmin:
        if self._kafka is None:
            self._kafka = KafkaAdmin(self.config.kafka.connection(), timeout=5.0)
        return self._kafka

    def _observe_topics(self) -> None:
        """The lag and newest-record gauges, at most every TOPIC_OBSERVE_INTERVAL: a few
        Admin requests per topic, skipped (gauges kept) while Kafka does not answer."""
        now = time.monotonic()
        if now - self._topics_observed_at < TOPIC_OBSERVE_INTERVAL:
            return
        self._topics_observed_at = now
        with self._kafka_lock:
            self._observe_topics_now()

    def _observe_topics_now(self) -> None:
        admin = self._admin()
        try:
            admin.check_reachable()
        except KafkaCheckError as exc:
            self.cycle.kafka_outage.failed(exc, "observe", "the lag metrics keep their values")
            admin_or_none = None
        else:
            self.cycle.kafka_outage.answered()
            admin_or_none = admin
        for topic in self.config.topics:
            observed, error = status.observe_topic(self.config, topic, admin_or_none, time.time())
            if error is not None:
                log.warning("observe.failed", topic=topic, error=error)
            if observed.lag_records is not None:
                self.metrics.backup_lag.labels(topic=topic).set(observed.lag_records)
            if observed.newest_record_age_seconds is not None:
                self.metrics.newest_record_age.labels(topic=topic).set(
                    observed.newest_record_age_seconds
                )

    def _connect_starting(self, exc: ConnectError) -> bool:
        """Connect comes up seconds after the pod starts, and its REST API answers 404 for a
        while after it first listens: until a reconcile first succeeds (within
        CONNECT_STARTUP_GRACE_SECONDS), a failure is a wait, not an error line and a failure
        count at every pod start."""
        if self._connect_ready or time.monotonic() - self._started >= CONNECT_STARTUP_GRACE_SECONDS:
            return False
        if exc.message != self._last_reconcile_error:
            log.info(
                "reconcile.waiting_for_connect", url=self.config.connect.url, error=exc.message
            )
            self._last_reconcile_error = exc.message
        return True

    def _shutdown(self) -> None:
        log.info("supervisor.stopping")
        with self._lock:
            self._lock.notify_all()
        # Connectors run unless a cycle was cut short before it resumed them; make sure.
        try:
            self.reconciler.reconcile(period_of(self.clock(), self.config.sink_rotation))
        except ConnectError as exc:
            log.warning("supervisor.stop_resume_failed", cause=exc.cause, error=exc.message)
        self._unmount_leftover()
        if self.http is not None:
            self.http.stop()
        self.metrics.up.set(0)
        self.cycle_client.close()
        self.reconcile_client.close()
        log.info("supervisor.stopped")

    def _unmount_leftover(self) -> None:
        """The snapshot step unmounts in its own finally; this is the belt to its braces (at
        shutdown) and the cleanup after a killed predecessor (at start)."""
        mount_point = self.config.backup.mount_point
        if not (self.config.backup.enabled and fuse.is_fuse_mounted(mount_point)):
            return
        try:
            fuse.unmount(mount_point)
            log.warning("backup.unmounted_leftover", mount_point=str(mount_point))
        except OSError as exc:
            log.error(
                "backup.unmount_failed",
                cause="mount_failed",
                mount_point=str(mount_point),
                error=str(exc),
                fix=f"find what keeps {mount_point} busy (fuser -m) and unmount it",
            )
