"""Prometheus metrics of the supervisor (one registry per supervisor, so tests can run several).

Alert on `time() - kcb_last_success_timestamp_seconds > 2 * restartTimeout` (the chart's
PrometheusRule does) and on `increase(kcb_failures_total[1d]) > 0`.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

# Buckets from a second to a day: cycles and rsnapshot runs grow with the data.
_DURATION_BUCKETS = (1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400)
_DOWNTIME_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.last_success = Gauge(
            "kcb_last_success_timestamp_seconds",
            "Unix time of the end of the last successful cycle (0 = none yet)",
            registry=r,
        )
        self.last_cycle_end = Gauge(
            "kcb_last_cycle_timestamp_seconds",
            "Unix time of the end of the last cycle, successful or not",
            registry=r,
        )
        self.cycles = Counter(
            "kcb_cycles", "Cycles run, by result (success|failure)", ["result"], registry=r
        )
        self.failures = Counter(
            "kcb_failures",
            "Failures by cause (connect_unreachable, target_not_mounted, wrong_password, ...)",
            ["cause", "step"],
            registry=r,
        )
        self.cycle_duration = Histogram(
            "kcb_cycle_duration_seconds",
            "Wall time of a whole cycle",
            buckets=_DURATION_BUCKETS,
            registry=r,
        )
        self.last_cycle_duration = Gauge(
            "kcb_last_cycle_duration_seconds", "Wall time of the last cycle", registry=r
        )
        self.rsnapshot_duration = Gauge(
            "kcb_rsnapshot_duration_seconds",
            "Wall time of the last rsnapshot run (mount to unmount excluded)",
            registry=r,
        )
        self.snapshot_duration = Gauge(
            "kcb_snapshot_step_duration_seconds",
            "Wall time of the last whole backup step (mount, prune, rsnapshot, verify, unmount)",
            registry=r,
        )
        self.connect_downtime = Histogram(
            "kcb_connect_downtime_seconds",
            "Per cycle: from the first connector stop to every connector running again",
            buckets=_DOWNTIME_BUCKETS,
            registry=r,
        )
        self.last_connect_downtime = Gauge(
            "kcb_last_connect_downtime_seconds",
            "Connect downtime of the last cycle",
            registry=r,
        )
        self.backup_bytes = Gauge(
            "kcb_backup_bytes", "Bytes of sink files in the last snapshot", registry=r
        )
        self.backup_files = Gauge("kcb_backup_files", "Sink files in the last snapshot", registry=r)
        self.backed_up_bytes = Counter(
            "kcb_backed_up_bytes", "Bytes of sink files snapshotted, summed over cycles", registry=r
        )
        self.compressed_files = Counter(
            "kcb_compressed_files", "Stale sink files compressed", registry=r
        )
        self.reconcile_changes = Counter(
            "kcb_reconcile_actions",
            "Connector actions taken by the reconciler",
            ["action"],
            registry=r,
        )
        self.cycle_in_progress = Gauge("kcb_cycle_in_progress", "1 while a cycle runs", registry=r)
        self.up = Gauge("kcb_up", "1 while the supervisor loop runs", registry=r)

    def render(self) -> bytes:
        return bytes(generate_latest(self.registry))
