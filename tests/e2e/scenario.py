"""What the e2e scenarios share: the README's own values file, records with known times, the
sink files and snapshots as a user sees them through `kubectl exec`."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from e2e.release import ROOT, Release
from kafka_helpers import produce_json, wait_for_lines
from waiting import eventually

PASSWORD = "e2e correct horse battery staple 4b1d"
README = ROOT / "README.md"
ORIGINAL_VALUES = ROOT / "charts" / "kafka-connect-backup" / "ci" / "original-values.yaml"


def readme_minimal_values() -> str:
    """The "minimal values file" block of the README, as a user copies it."""
    text = README.read_text()
    section = text[text.index("A minimal values file") :]
    match = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert match, "the README lost its minimal values block"
    return match.group(1)


def records(prefix: str, count: int, start: datetime) -> list[dict[str, Any]]:
    """Records one second apart from `start`, each with the `utcTime` restore selects on."""
    return [
        {"id": f"{prefix}-{i}", "utcTime": (start + timedelta(seconds=i)).isoformat()}
        for i in range(count)
    ]


BASE_TIME = datetime(2026, 3, 14, 12, 0, 0, tzinfo=UTC)


def produce(
    release: Release, topic: str, prefix: str, count: int, start: datetime = BASE_TIME
) -> list[str]:
    return produce_json(release.broker.bootstrap, topic, records(prefix, count, start))


def sink_files(data_dir: Path, sink_path: str, mount_path: str = "/data") -> Path:
    """Where the pod's sinkPath is on the host's hostPath volume."""
    return data_dir / Path(sink_path).relative_to(mount_path)


def wait_for_sink(directory: Path, topic: str, sink: str, expected: int) -> list[str]:
    """The lines of the topic's sink file once `expected` have arrived (Connect creates the
    file with the first record, so wait for it first)."""
    files = eventually(
        lambda: sorted(directory.glob(f"{topic}-{sink}-*.sink")),
        f"a sink file of {topic} in {directory}",
        timeout=120,
        interval=1,
    )
    return wait_for_lines(files, expected, timeout=120)


def alpha_lines(snapshots: list[dict[str, Any]], name: str = "alpha.0") -> dict[str, int]:
    """{topic file name prefix: lines} of one snapshot from `kcb snapshots list --json`."""
    snapshot = next(s for s in snapshots if s["name"] == name)
    out: dict[str, int] = {}
    for item in snapshot["files"]:
        out[Path(item["path"]).name] = item["lines"]
    return out


def connectors(release: Release) -> list[str]:
    """The connectors Connect runs, asked from inside the pod (REST is on 127.0.0.1 only)."""
    script = (
        "import json,urllib.request;"
        "print(json.dumps(sorted(json.load(urllib.request.urlopen("
        "'http://127.0.0.1:8083/connectors')))))"
    )
    return list(yaml.safe_load(release.exec("python3", "-c", script).stdout))


def backup_values(topic: str, sink: str, backup: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A release backing up `topic` onto the e2e backup PVC, its password from the e2e Secret;
    `backup`: more backup.* keys (retention, keep...), `extra`: top-level values."""
    return {
        "topicList": topic,
        "sinkName": sink,
        "backup": {
            "enabled": True,
            "encryption": {"existingSecret": "kafka-backup-password"},
            **backup,
        },
        "targetPvcName": "kafka-backup-nfs",
        **extra,
    }


def backup_now(release: Release) -> dict[str, Any]:
    """`kcb backup-now --json` in the pod; it must have succeeded."""
    answer: dict[str, Any] = json.loads(release.exec("kcb", "backup-now", "--json").stdout)
    assert answer["ok"] is True, answer
    return answer
