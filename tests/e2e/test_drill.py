"""`kubectl exec ... kcb drill` in the cluster after a backup cycle: the newest records of the
topic in alpha.0, read through the privately mounted encrypted backup inside the pod, restored
into a scratch topic on the broker and read back exactly; the scratch topic gone afterwards;
the result kept on the data volume and in the supervisor's metrics; `kcb status` in the pod."""

from __future__ import annotations

import hashlib
import json
import re

import pytest

from e2e.release import Release
from e2e.scenario import PASSWORD, produce, wait_for_sink
from waiting import eventually

# The first e2e test also builds the images and starts the cluster (minutes when cold).
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1500)]

TOPIC = "e2e-drill-orders"
SINK = "file-sink"
METRICS = (
    "import urllib.request;"
    "print(urllib.request.urlopen('http://127.0.0.1:9400/metrics').read().decode())"
)


def _sha256(lines: list[str]) -> str:
    return hashlib.sha256("".join(f"{line}\n" for line in lines).encode()).hexdigest()


def test_kcb_drill_restores_the_newest_snapshot_through_the_cluster(release: Release) -> None:
    data = release.data_volume()
    release.target_claim("kafka-backup-nfs")
    release.password_secret("kafka-backup-password", PASSWORD)
    release.broker.create_topic(TOPIC)
    release.install(
        {
            "topicList": TOPIC,
            "sinkName": SINK,
            "backup": {
                "enabled": True,
                "encryption": {"existingSecret": "kafka-backup-password"},
                "drill": {"records": 30},
            },
            "targetPvcName": "kafka-backup-nfs",
        }
    )
    release.wait_ready()
    sink_dir = data / "filesink"
    lines = produce(release, TOPIC, "d", 100)
    assert wait_for_sink(sink_dir, TOPIC, SINK, 100) == lines
    cycle = release.kcb_json("backup-now")
    assert cycle["ok"] is True, cycle
    # Records after the backup are not in alpha.0: the drill must not see them.
    produce(release, TOPIC, "late", 5)

    report = release.kcb_json("drill")
    assert report["ok"] is True, report
    [topic] = report["topics"]
    assert (topic["topic"], topic["read"], topic["records"], topic["readBack"]) == (
        TOPIC,
        100,
        30,
        30,
    )
    assert topic["snapshotSha256"] == _sha256(lines[-30:]) == topic["readBackSha256"]
    assert report["mountedFrom"] == "/mnt/backup_nfs_enc"
    admin = release.broker.admin()
    assert [t for t in admin.list_topics(timeout=10).topics if t.startswith("kcb-drill-")] == []
    record = json.loads((sink_dir / ".kcb-drill.json").read_text())
    assert record["ok"] is True and record["topics"] == [TOPIC]

    # The supervisor reads the record within a reconcile interval.
    text = eventually(
        lambda: release.exec("python3", "-c", METRICS).stdout,
        "kcb_drill_last_result 1.0 in the metrics",
        timeout=60,
        until=lambda text: bool(re.search(r"^kcb_drill_last_result 1\.0$", text, re.MULTILINE)),
        interval=2,
    )
    success = re.search(r"^kcb_drill_last_success_timestamp_seconds (\S+)$", text, re.MULTILINE)
    assert success and float(success.group(1)) == record["lastSuccess"]

    # `kcb status` in the pod: the supervisor's document, healthy, with the snapshot the cycle
    # took, the drill and the topic's files.
    state = release.kcb_json("status")
    assert state["healthy"] is True and state["lastCycleOk"] is True, state
    assert state["supervisor"] is not None  # answered by the running supervisor
    assert state["lastSnapshot"]["files"] == cycle["snapshot"]["files"]
    assert state["lastDrill"]["ok"] is True and state["lastDrill"]["topics"] == [TOPIC]
    [seen] = state["topics"]
    assert seen["topic"] == TOPIC and seen["files"] == 1 and seen["lag_records"] is not None
    readable = release.exec("kcb", "status")
    assert readable.stdout.startswith("backup: HEALTHY: the last cycle succeeded\n")

    wrong = release.exec("kcb", "drill", "--topic", "nope", check=False)
    assert wrong.returncode == 2
    assert f"--topic nope is not a topic of this release (topics: {TOPIC})" in wrong.stderr
