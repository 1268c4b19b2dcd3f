"""The supervisor's config document for a run on this machine: the one builder the demo, the
benchmarks and the tests use.

It builds the same document the chart renders (camelCase keys, validated by
`kafka_connect_backup.config.parse_config` / `load_config`), so what runs locally is what is
deployed. It writes only the keys a caller gives: everything else keeps the model's default.

    document = local_config(
        topics=["orders"],
        sink_name="demo-sink",
        sink_path=work / "sink",
        connect_url=stack.connect_url,
        backup=local_backup(
            password_file=work / "password",
            target_dir=work / "cipher",
            mount_point=work / "plain",
            work_dir=work / "kcb",
        ),
        restartTimeout="20s",
    )
    config = parse_config(document)  # or: write_config(work / "config.yaml", document)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

# A local run's metrics endpoint listens on this machine only.
LOOPBACK = "127.0.0.1"


def local_backup(
    *,
    password_file: Path | str,
    target_dir: Path | str,
    mount_point: Path | str,
    work_dir: Path | str,
    retention: int = 3,
    engine: str = "encfs",
    require_target_mount: bool = False,
    **overrides: Any,
) -> dict[str, Any]:
    """The `backup` section: enabled, on an encrypted volume whose ciphertext is `target_dir`,
    initialised on first use (allowInit). `require_target_mount` is off by default because a
    local directory usually stands in for the NFS volume. `overrides` are further keys of the
    section by their config name (e.g. allowInit=False, targetDir=...) and win."""
    section: dict[str, Any] = {
        "enabled": True,
        "retention": retention,
        "engine": engine,
        "passwordFile": str(password_file),
        "targetDir": str(target_dir),
        "mountPoint": str(mount_point),
        "requireTargetMount": require_target_mount,
        "allowInit": True,
        "workDir": str(work_dir),
    }
    section.update(overrides)
    return section


def local_config(
    *,
    topics: Sequence[str],
    sink_name: str,
    sink_path: Path | str,
    connect_url: str | None = None,
    bootstrap_servers: str | None = None,
    metrics_port: int | None = None,
    backup: Mapping[str, Any] | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """The whole document. `metrics_port` listens on 127.0.0.1 (0 = no endpoint); `backup` is a
    section such as `local_backup(...)` returns (none: the model's default, backup disabled).
    `overrides` are further keys by their config name (restartTimeout="6s",
    compressAfterDays=30, ...); a mapping is merged into the section built from the
    arguments above (connect={"stopTimeoutSeconds": 30} keeps connect_url)."""
    document: dict[str, Any] = {
        "topics": list(topics),
        "sinkName": sink_name,
        "sinkPath": str(sink_path),
    }
    if connect_url is not None:
        document["connect"] = {"url": connect_url}
    if bootstrap_servers is not None:
        document["kafka"] = {"bootstrapServers": bootstrap_servers}
    if metrics_port is not None:
        document["metrics"] = {"host": LOOPBACK, "port": metrics_port}
    if backup is not None:
        document["backup"] = dict(backup)
    for key, value in overrides.items():
        section = document.get(key)
        if isinstance(value, Mapping) and isinstance(section, dict):
            section.update(value)
        else:
            document[key] = dict(value) if isinstance(value, Mapping) else value
    return document


def write_config(path: Path, document: Mapping[str, Any]) -> Path:
    """Write the document as the YAML file `kcb --config` and `restore.py --config` read."""
    path.write_text(yaml.safe_dump(dict(document), sort_keys=False), encoding="utf-8")
    return path
