"""`helm upgrade` changing retention: release N (retention 7) and N+1 (retention 3) render
different supervisor configs and checksums, so the pod is replaced; the new supervisor's config
then drives rsnapshot (`retain alpha 3`) and the pruning of alpha.3 to alpha.6."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import pytest
import yaml

from chart.helm_chart import CHART, RELEASE, Helm, find, supervisor_config_document
from kafka_connect_backup.config import parse_config
from kafka_connect_backup.layout.snapshot_dirs import snapshot_dirs
from kafka_connect_backup.supervisor.backup.retention import prune
from kafka_connect_backup.tools.rsnapshot import render_config

pytestmark = pytest.mark.chart

# A backup-enabled release: the original chart's values (retention 7 there).
RELEASE_VALUES = [CHART / "ci" / "original-values.yaml"]


def checksum(manifests: list[dict[str, Any]]) -> str:
    deployment = find(manifests, "Deployment", RELEASE)
    value: str = deployment["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
    return value


def config_text(manifests: list[dict[str, Any]]) -> str:
    text: str = find(manifests, "ConfigMap", f"{RELEASE}-supervisor")["data"]["config.yaml"]
    return text


@pytest.fixture(scope="module")
def releases(helm: Helm) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    release_n = helm.template(RELEASE_VALUES, set_values={"backup.retention": 7})
    release_n1 = helm.template(RELEASE_VALUES, set_values={"backup.retention": 3})
    return release_n, release_n1


def test_lowering_retention_changes_the_config_and_the_checksum(releases: Any) -> None:
    release_n, release_n1 = releases
    diff = [
        line
        for line in difflib.unified_diff(
            config_text(release_n).splitlines(), config_text(release_n1).splitlines(), n=0
        )
        if line.startswith(("+", "-")) and not line.startswith(("+++", "---"))
    ]
    assert diff == ["-  retention: 7", "+  retention: 3"]
    assert parse_config(supervisor_config_document(release_n)).backup.retention == 7
    assert parse_config(supervisor_config_document(release_n1)).backup.retention == 3
    assert checksum(release_n) != checksum(release_n1)


def test_the_checksum_is_stable_and_only_follows_the_configs(helm: Helm, releases: Any) -> None:
    release_n, _ = releases
    again = helm.template(RELEASE_VALUES, set_values={"backup.retention": 7})
    assert checksum(again) == checksum(release_n)
    # Pod-only changes roll the pod anyway (the template changes), but do not touch the hash.
    annotated = helm.template(
        RELEASE_VALUES, set_values={"backup.retention": 7, "podAnnotations.team": "data"}
    )
    assert checksum(annotated) == checksum(release_n)
    # A Connect-only change (log level) changes it too.
    debug = helm.template(RELEASE_VALUES, set_values={"backup.retention": 7, "loglevel": "DEBUG"})
    assert checksum(debug) != checksum(release_n)
    # A password change does not: the Secret is mounted (updated in place) and its hash must
    # not end up in the pod's annotations.
    password = helm.template(
        RELEASE_VALUES, set_values={"backup.retention": 7, "encryptPassword": "other"}
    )
    assert checksum(password) == checksum(release_n)
    assert "other" not in yaml.safe_dump(find(password, "Deployment", RELEASE))


def test_the_new_config_prunes_snapshots_beyond_the_new_retention(
    releases: Any, tmp_path: Path
) -> None:
    _, release_n1 = releases
    config = parse_config(supervisor_config_document(release_n1))
    # What seven cycles under release N left on the backup volume.
    root = tmp_path / "snapshots"
    for index in range(7):
        (root / f"alpha.{index}" / "localhost").mkdir(parents=True)
        (root / f"alpha.{index}" / "localhost" / "t-sink-2026-11.sink").write_text(f"{index}\n")
    conf = render_config(
        snapshot_root=root,
        source_dir=config.sink_path,
        levels=config.backup.levels,
        lockfile=tmp_path / "rsnapshot.pid",
    )
    assert "retain\talpha\t3\n" in conf
    removed = prune(root, config.backup.levels)
    assert sorted(p.name for p in removed) == ["alpha.3", "alpha.4", "alpha.5", "alpha.6"]
    assert [s.path.name for s in snapshot_dirs(root)] == ["alpha.0", "alpha.1", "alpha.2"]
    assert (root / "alpha.2" / "localhost" / "t-sink-2026-11.sink").read_text() == "2\n"
