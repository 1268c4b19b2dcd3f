"""`helm upgrade` reshaping retention on the real cluster: from backup.retention to backup.keep
levels (the alpha.N kept and listed), the levels fed in order, a lowered count pruned, a removed
level kept until `kcb snapshots prune --level` (plan first, then --yes), and a restore choosing
its snapshot by time."""

from __future__ import annotations

from typing import Any

import pytest

from e2e.release import Release
from e2e.scenario import BASE_TIME, PASSWORD, backup_now, backup_values, produce, wait_for_sink
from kafka_helpers import consume_all

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1500)]

SINK = "file-sink"
TOPIC = "e2e-levels"


def _values(backup: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return backup_values(TOPIC, SINK, backup, **extra)


def _listed(release: Release) -> dict[str, str]:
    """snapshot name -> level, as `kcb snapshots list --json` gives them."""
    return {s["name"]: s["level"] for s in release.kcb_json("snapshots", "list")}


def test_helm_upgrade_reshapes_retention_into_levels(release: Release) -> None:
    data = release.data_volume()
    release.target_claim("kafka-backup-nfs")
    release.password_secret("kafka-backup-password", PASSWORD)
    release.broker.create_topic(TOPIC)
    release.install(_values({"retention": 2}))
    first = release.wait_ready()["metadata"]["name"]
    sent = produce(release, TOPIC, "v", 30)
    assert wait_for_sink(data / "filesink", TOPIC, SINK, 30) == sent
    backup_now(release)
    backup_now(release)
    assert _listed(release) == {"alpha.0": "alpha", "alpha.1": "alpha"}

    # retention -> keep: the existing alpha.N stay, listed; hourly takes every cycle, daily is
    # fed hourly's oldest (hourly.2) once it exists, at the first cycle of its period.
    keep = {"keep": {"hourly": 3, "daily": 2}}
    release.upgrade(_values(keep, restartTimeout="1h"))
    second = release.wait_ready(other_than=first)["metadata"]["name"]
    for _ in range(3):
        backup_now(release)
    assert _listed(release) == {
        "hourly.0": "hourly", "hourly.1": "hourly", "hourly.2": "hourly",
        "alpha.0": "alpha", "alpha.1": "alpha",
    }  # fmt: skip
    taken = {s["name"]: s["takenAt"] for s in release.kcb_json("snapshots", "list")}
    answer = backup_now(release)
    assert _listed(release) == {
        "hourly.0": "hourly", "hourly.1": "hourly", "hourly.2": "hourly", "daily.0": "daily",
        "alpha.0": "alpha", "alpha.1": "alpha",
    }  # fmt: skip
    listed = {s["name"]: s["takenAt"] for s in release.kcb_json("snapshots", "list")}
    assert listed["daily.0"] == taken["hourly.2"]  # renamed, not copied: its own time
    assert answer["snapshot"]["name"] == "hourly.0", answer
    status = release.kcb_json("status")
    (point,) = [t["recoveryPoint"] for t in status["topics"] if t["topic"] == TOPIC]
    assert point["snapshot"] == "hourly.0"

    # A restore by time into a new topic: the newest snapshot at or before the daily's time is
    # daily.0 (hourly.0..2 were taken after it), and the plan says so.
    restored = f"{TOPIC}-restored"
    bootstrap = release.broker.bootstrap
    run = release.exec(
        "restore.py", restored, bootstrap, "--snapshot-at", listed["daily.0"],
        "--source-topic", TOPIC, "--from", BASE_TIME.isoformat(), "--create-topic", "--yes",
    )  # fmt: skip
    assert f"daily.0, taken {listed['daily.0']}" in run.stdout + run.stderr, run.stdout
    assert [(v or b"").decode() for _, v in consume_all(bootstrap, restored, 30)] == sent

    # Lower hourly to 2 and remove daily: hourly.2 pruned at the next cycle, daily.0 kept.
    release.upgrade(_values({"keep": {"hourly": 2}}, restartTimeout="1h"))
    release.wait_ready(other_than=second)
    backup_now(release)
    assert _listed(release) == {
        "hourly.0": "hourly", "hourly.1": "hourly", "daily.0": "daily",
        "alpha.0": "alpha", "alpha.1": "alpha",
    }  # fmt: skip
    unconfigured = [
        e for e in release.log_events() if e.get("event") == "snapshot.level_unconfigured"
    ]
    assert {e["snapshot_level"] for e in unconfigured} == {"daily", "alpha"}

    # The user removes what no level keeps any more: a plan first, then --yes.
    plan = release.exec("kcb", "snapshots", "prune", "--level", "daily")
    assert "daily.0" in plan.stdout and plan.returncode == 0, plan.stdout
    assert "daily.0" in _listed(release)
    release.exec("kcb", "snapshots", "prune", "--level", "daily", "--yes")
    release.exec("kcb", "snapshots", "prune", "--level", "alpha", "--yes")
    assert _listed(release) == {"hourly.0": "hourly", "hourly.1": "hourly"}
