"""`helm install` as a user runs it: the README's minimal values, a values file written for the
original chart, and gocryptfs; a scheduled cycle and `kcb backup-now` both back up exactly the
records produced."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from e2e.release import Release
from e2e.scenario import (
    ORIGINAL_VALUES,
    PASSWORD,
    alpha_lines,
    connectors,
    produce,
    readme_minimal_values,
    wait_for_sink,
)

# The first e2e test also builds the images and starts the cluster (minutes when cold).
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1500)]


def _backed_up(release: Release, sink_dir: Path, lines: dict[str, int]) -> None:
    """A scheduled cycle (short restartTimeout), then `kcb backup-now`: both succeed, and
    alpha.0 holds exactly the sink files, with `lines` records per topic."""
    files = {p.name: p for p in sink_dir.glob("*.sink")}
    expected = {
        name: lines[topic] for name, path in files.items() for topic in lines
        if name.startswith(f"{topic}-")
    }  # fmt: skip
    assert len(expected) == len(lines) == len(files), files
    done = release.wait_for_event("cycle.done", timeout=240)
    assert done[0]["ok"] is True, done[0]
    answer = json.loads(release.exec("kcb", "backup-now", "--json").stdout)
    assert answer["ok"] is True, answer
    snapshots = release.kcb_json("snapshots", "list")
    assert [s["name"] for s in snapshots] == ["alpha.0", "alpha.1"]
    assert alpha_lines(snapshots) == expected
    assert alpha_lines(snapshots, "alpha.1") == expected  # nothing produced in between


def test_readme_minimal_values_back_up_only_the_listed_topics(release: Release) -> None:
    values = readme_minimal_values()
    parsed: dict[str, Any] = yaml.safe_load(values)
    sink = parsed["sinkName"]
    topics = parsed["topicList"].split(",")
    data = release.data_volume()
    release.target_claim(parsed["targetPvcName"])
    release.password_secret(parsed["backup"]["encryption"]["existingSecret"], PASSWORD)
    for topic in topics:
        release.broker.create_topic(topic)
    release.install(values, {"restartTimeout": "40s"})
    release.wait_ready()

    sink_dir = data / "filesink"
    counts = {topics[0]: 120, topics[1]: 80}
    for topic, count in counts.items():
        sent = produce(release, topic, topic, count)
        assert wait_for_sink(sink_dir, topic, sink, count) == sent
    # Only the listed topics: no connector (and no auto-created topic) for a default `topic`.
    assert connectors(release) == sorted(f"{t}-{sink}" for t in topics)
    _backed_up(release, sink_dir, counts)
    _least_privilege(release)
    # A healthy install reads clean: no error line (not even while Connect was starting).
    errors = [e for e in release.log_events() if e.get("level") == "error"]
    assert errors == []


def _least_privilege(release: Release) -> None:
    """What the runtime enforces, not what the manifest says: connect is non-root and cannot
    write its root filesystem; only the supervisor is privileged; the password is in no
    container's environment, arguments or logs."""
    assert release.exec("id", "-u", container="connect").stdout.strip() == "1000"
    write = release.exec("touch", "/probe", container="connect", check=False)
    assert write.returncode != 0 and "Read-only file system" in write.stderr
    pod = release.pod()
    privileged = {
        c["name"]: bool((c.get("securityContext") or {}).get("privileged"))
        for c in pod["spec"]["initContainers"] + pod["spec"]["containers"]
    }
    assert privileged.pop("supervisor") is True
    assert not any(privileged.values()), privileged
    manifest = release.kubectl("get", "pod", pod["metadata"]["name"], "-o", "yaml").stdout
    environments = [
        release.exec("cat", "/proc/1/environ", container=c).stdout
        for c in ("connect", "supervisor")
    ]
    arguments = [
        release.exec("sh", "-c", "cat /proc/[0-9]*/cmdline", container=c).stdout
        for c in ("connect", "supervisor")
    ]
    logs = [release.logs(c) for c in ("connect", "supervisor")]
    for text in [manifest, *environments, *arguments, *logs]:
        assert PASSWORD not in text


def test_original_chart_values_install_on_a_root_owned_volume(release: Release) -> None:
    values = ORIGINAL_VALUES.read_text()
    parsed: dict[str, Any] = yaml.safe_load(values)
    topics = [parsed["topic"], *parsed["topicList"].split(",")]
    sink = parsed["sinkName"]
    # hostPath, root-owned: no fsGroup is applied, so the chart's volumePermissions fixes it.
    data = release.data_volume(owner=None)
    release.target_claim(parsed["targetPvcName"])
    for topic in topics:
        release.broker.create_topic(topic)
    release.install(values, {"restartTimeout": "40s", "volumePermissions": {"enabled": True}})
    release.wait_ready()

    # sinkPath (/opt/bitnami/kafka/filesink) is outside /data: the volume's root is mounted there.
    counts = dict(zip(topics, (30, 20, 10), strict=True))
    for topic, count in counts.items():
        sent = produce(release, topic, topic, count)
        assert wait_for_sink(data, topic, sink, count) == sent
    assert all(p.stat().st_uid == 1000 for p in data.glob("*.sink"))
    assert connectors(release) == sorted(f"{t}-{sink}" for t in topics)
    _backed_up(release, data, counts)


def test_gocryptfs_volume_install(release: Release) -> None:
    values = readme_minimal_values()
    parsed: dict[str, Any] = yaml.safe_load(values)
    sink = parsed["sinkName"]
    topic = "gocryptfs-events"
    data = release.data_volume()
    target = release.target_claim(parsed["targetPvcName"])
    release.password_secret(parsed["backup"]["encryption"]["existingSecret"], PASSWORD)
    release.broker.create_topic(topic)
    # Helm merges values files key by key: only the engine changes.
    engine = {"backup": {"encryption": {"engine": "gocryptfs"}}}
    release.install(values, {"restartTimeout": "40s", "topicList": topic, **engine})
    release.wait_ready()
    sent = produce(release, topic, "g", 64)
    assert wait_for_sink(data / "filesink", topic, sink, 64) == sent
    _backed_up(release, data / "filesink", {topic: 64})
    assert (target / "gocryptfs.conf").is_file() and not (target / ".encfs6.xml").exists()
    ciphertext = b"".join(p.read_bytes() for p in target.rglob("*") if p.is_file())
    assert b"g-0" not in ciphertext and sent[0].encode() not in ciphertext
