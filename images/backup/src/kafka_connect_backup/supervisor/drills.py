"""Scheduled restore drills and their metrics.

With backup.drill.enabled, the daemon runs a drill (inspect/drill.py) after a successful cycle,
once the cycle is over (the connectors are resumed by then; a drill never runs while they are
stopped), when no drill covering every configured topic has ended within backup.drill.every.
A failed drill is retried after `every` too, or sooner by hand with `kcb drill`. A drill that
fails, or breaks, never changes the cycle's result.

The kcb_drill_* metrics are read from the drill record ({sinkPath}/.kcb-drill.json), so a
drill run through `kubectl exec ... kcb drill` shows in them too.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from kafka_connect_backup.config import Config, DrillSettings
from kafka_connect_backup.core.logs import get_logger
from kafka_connect_backup.inspect.drill import run_drill
from kafka_connect_backup.inspect.drill_record import DrillRecord, load_last_drill, record_drill
from kafka_connect_backup.supervisor.metrics import Metrics

log = get_logger(__name__)


def drill_due(
    settings: DrillSettings, topics: Sequence[str], last: DrillRecord | None, now: float
) -> bool:
    """Whether a scheduled drill should run now: enabled, and the last drill is older than
    `every`, or did not cover every configured topic (a `kcb drill --topic` of some)."""
    if not settings.enabled:
        return False
    if last is None or not set(topics) <= set(last.topics):
        return True
    return now - last.finished_at >= settings.every_seconds


# kcb_drill_last_result of a drill whose every topic was idle: not a failure (no alert), but
# not a restore proved either.
SKIPPED = 2


class DrillMetrics:
    """Sets the kcb_drill_* gauges from the record; counts each record once (by its end time),
    not the one already there when the supervisor started."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self._primed = False  # the first observation is the baseline: not counted
        self._seen: float | None = None

    def observe(self, record: DrillRecord | None) -> None:
        primed, self._primed = self._primed, True
        if record is None:
            return
        metrics = self.metrics
        metrics.drill_last_result.set(SKIPPED if record.skipped else 1 if record.ok else 0)
        metrics.drill_last_success.set(record.last_success)
        metrics.drill_last_end.set(record.finished_at)
        metrics.drill_last_duration.set(record.seconds)
        if primed and record.finished_at != self._seen:
            result = "skipped" if record.skipped else "passed" if record.ok else "failed"
            metrics.drills.labels(result=result).inc()
        self._seen = record.finished_at


class ScheduledDrills:
    def __init__(
        self,
        config: Config,
        metrics: Metrics,
        *,
        should_abort: Callable[[], bool] = lambda: False,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.config = config
        self.watch = DrillMetrics(metrics)
        self.should_abort = should_abort
        self.clock = clock or time.time

    def refresh(self) -> None:
        """The metrics from the record as it is now (at start, and every reconcile tick)."""
        self.watch.observe(load_last_drill(self.config))

    def due(self) -> bool:
        settings = self.config.backup.drill
        if not settings.enabled:
            return False
        return drill_due(settings, self.config.topics, load_last_drill(self.config), self.clock())

    def after_cycle(self, cycle_ok: bool) -> DrillRecord | None:
        """Run a drill if one is due after this cycle; any error is logged, never raised."""
        if not cycle_ok or not self.due():
            return None
        self.refresh()  # the baseline, if the loop has not taken it yet
        log.info("drill.start", topics=list(self.config.topics))
        try:
            # The snapshot the cycle just took: alpha.0, or the lowest backup.keep level's .0.
            report = run_drill(
                self.config,
                snapshot=self.config.backup.newest_snapshot,
                should_abort=self.should_abort,
            )
            record = record_drill(self.config, report)
        except Exception as exc:  # a drill never takes the supervisor down
            log.exception(
                "drill.error",
                cause="unexpected",
                error=f"{type(exc).__name__}: {exc}",
                fix="report a bug with this log event; the next cycle's drill tries again",
            )
            return None
        self.watch.observe(record)
        return record
