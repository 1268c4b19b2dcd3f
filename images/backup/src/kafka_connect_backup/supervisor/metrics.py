"""Prometheus metrics of the supervisor (one registry per supervisor, so tests can run several).

Alert on `time() - kcb_last_success_timestamp_seconds > 2 * restartTimeout` (the chart's
PrometheusRule does) and on `increase(kcb_failures_total[1d]) > 0`; on `kcb_drill_last_result
== 0` (the last restore drill failed) and, with scheduled drills, on `time() -
kcb_drill_last_success_timestamp_seconds > 2 * backup.drill.every`; on
`kcb_recovery_point_age_seconds` above the chart's recoveryPointMaxAge (2 * restartTimeout).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

# Buckets from a second to a day: cycles and rsnapshot runs grow with the data.
_DURATION_BUCKETS = (1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400)
_DOWNTIME_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Metrics:
    def __init__(self) -> None:
        self.registry = r = CollectorRegistry(auto_describe=True)

        def gauge(name: str, doc: str, labels: tuple[str, ...] = ()) -> Gauge:
            return Gauge(name, doc, labels, registry=r)

        def counter(name: str, doc: str, labels: tuple[str, ...] = ()) -> Counter:
            return Counter(name, doc, labels, registry=r)

        def histogram(name: str, doc: str, buckets: tuple[float, ...]) -> Histogram:
            return Histogram(name, doc, buckets=buckets, registry=r)

        self.last_success = gauge(
            "kcb_last_success_timestamp_seconds",
            "Unix time of the end of the last successful cycle (0 = none yet)",
        )
        self.last_cycle_end = gauge(
            "kcb_last_cycle_timestamp_seconds",
            "Unix time of the end of the last cycle, successful or not",
        )
        self.cycles = counter("kcb_cycles", "Cycles run, by result (success|failure)", ("result",))
        self.failures = counter(
            "kcb_failures",
            "Failures by cause (connect_unreachable, target_not_mounted, wrong_password, ...)",
            ("cause", "step"),
        )
        self.cycle_duration = histogram(
            "kcb_cycle_duration_seconds", "Wall time of a whole cycle", _DURATION_BUCKETS
        )
        self.last_cycle_duration = gauge(
            "kcb_last_cycle_duration_seconds", "Wall time of the last cycle"
        )
        self.snapshot_duration = gauge(
            "kcb_snapshot_duration_seconds",
            "Wall time of taking the last snapshot: the copy into .sync, rsnapshot sync and "
            "its rotations (alpha, or the due backup.keep levels; mount, verification and "
            "unmount excluded)",
        )
        # The same value under its old name, which said rsnapshot alone though it includes the
        # copy: kept for one release (the chart README's upgrade notes), then removed.
        self.rsnapshot_duration_deprecated = gauge(
            "kcb_rsnapshot_duration_seconds",
            "DEPRECATED, removed in the next release: use kcb_snapshot_duration_seconds (the "
            "same value)",
        )
        self.snapshot_step_duration = gauge(
            "kcb_snapshot_step_duration_seconds",
            "Wall time of the last whole backup step (mount, prune, rsnapshot, verify, unmount)",
        )
        self.connect_downtime = histogram(
            "kcb_connect_downtime_seconds",
            "Per cycle: the longest time one connector was down (its stop window: from its "
            "stop to running again; with stage=False or no room to stage, from the first stop "
            "to every connector running again)",
            _DOWNTIME_BUCKETS,
        )
        self.last_connect_downtime = gauge(
            "kcb_last_connect_downtime_seconds",
            "Connect downtime of the last cycle (the longest time one connector was down)",
        )
        self.backup_bytes = gauge("kcb_backup_bytes", "Bytes of sink files in the last snapshot")
        self.backup_files = gauge("kcb_backup_files", "Sink files in the last snapshot")
        self.backed_up_bytes = counter(
            "kcb_backed_up_bytes", "Bytes of sink files snapshotted, summed over cycles"
        )
        self.compressed_files = counter("kcb_compressed_files", "Stale sink files compressed")
        self.reconcile_changes = counter(
            "kcb_reconcile_actions", "Connector actions taken by the reconciler", ("action",)
        )
        self.connectors_held = gauge(
            "kcb_connectors_held", "Connectors a restore holds stopped (the reconciler skips them)"
        )
        self.oldest_hold_age = gauge(
            "kcb_oldest_hold_age_seconds",
            "Age of the oldest restore hold on a connector (0 = none)",
        )
        self.backup_lag = gauge(
            "kcb_backup_lag_records",
            "Records of the topic its sink has not written to a file yet (consumer-group lag)",
            ("topic",),
        )
        self.newest_record_age = gauge(
            "kcb_backup_newest_record_age_seconds",
            "Age of the newest record in the topic's current sink file: what a restore from the "
            "files right now would miss, for a topic that receives records steadily",
            ("topic",),
        )
        # Restore drills (kcb drill, in the supervisor or through kubectl exec), read from
        # {sinkPath}/.kcb-drill.json (supervisor/drills.py).
        self.drill_last_result = gauge(
            "kcb_drill_last_result",
            "Result of the last restore drill: 1 passed, 0 failed, 2 skipped (every topic "
            "idle), -1 none",
        )
        self.drill_last_result.set(-1)
        self.drill_last_success = gauge(
            "kcb_drill_last_success_timestamp_seconds",
            "Unix time of the end of the last passing restore drill (0 = none yet)",
        )
        self.drill_last_end = gauge(
            "kcb_drill_last_timestamp_seconds",
            "Unix time of the end of the last restore drill, passed or not (0 = none yet)",
        )
        self.drill_last_duration = gauge(
            "kcb_drill_last_duration_seconds", "Wall time of the last restore drill"
        )
        self.drills = counter(
            "kcb_drills",
            "Restore drills seen by this supervisor, by result (passed|failed|skipped)",
            ("result",),
        )
        # `kcb snapshots verify` of the release's backup, read from {sinkPath}/.kcb-verify.json.
        self.verify_last_result = gauge(
            "kcb_verify_last_result",
            "Result of the last snapshots verify: 1 ok, 0 problems, -1 none",
        )
        self.verify_last_result.set(-1)
        self.verify_last_end = gauge(
            "kcb_verify_last_timestamp_seconds", "Unix time of the last snapshots verify (0 = none)"
        )
        self.verify_problems = gauge(
            "kcb_verify_last_problems", "Problems the last snapshots verify found"
        )
        # backup.keep's levels and the recovery point (supervisor/backup/recovery.py).
        self.recovery_point_age = gauge(
            "kcb_recovery_point_age_seconds",
            "Age of the newest complete snapshot (any level) holding the topic's files: what "
            "a restore would miss if the data volume were lost now; grows between cycles",
            ("topic",),
        )
        self.snapshots = gauge(
            "kcb_snapshots", "Snapshot directories on the backup volume, by level", ("level",)
        )
        self.cycle_in_progress = gauge("kcb_cycle_in_progress", "1 while a cycle runs")
        self.up = gauge("kcb_up", "1 while the supervisor loop runs")

    def observe_snapshots(
        self, recovery: Mapping[str, tuple[str, float]], counts: Mapping[str, int]
    ) -> None:
        """Each topic's recovery point (topic -> (snapshot, taken at epoch)): its age is read
        at each scrape, so it grows while no cycle succeeds; the snapshots per level."""
        self.recovery_point_age.clear()  # a topic no longer backed up has none
        for topic, (_, taken) in recovery.items():
            self.recovery_point_age.labels(topic=topic).set_function(_age_since(taken))
        self.snapshots.clear()
        for level, count in counts.items():
            self.snapshots.labels(level=level).set(count)

    def render(self) -> bytes:
        return bytes(generate_latest(self.registry))


def _age_since(epoch: float) -> Callable[[], float]:
    return lambda: max(0.0, time.time() - epoch)
