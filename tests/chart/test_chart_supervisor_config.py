"""The chart renders the supervisor's config format exactly (images/backup/config.example.yaml,
validated by kafka_connect_backup.config), and its paths and ports match the Deployment.

Both ways: every rendered config loads with the supervisor's own parser and carries the values it
was rendered from; and every key of the supervisor's format is rendered by the chart, so a key
added to config.py without the chart (or the reverse) fails here.
"""

from __future__ import annotations

import posixpath
from pathlib import Path
from typing import Any, get_args
from urllib.parse import urlsplit

import pytest
import yaml
from pydantic import BaseModel

from chart.helm_chart import (
    CHART,
    MINIMAL_VALUES,
    RELEASE,
    ROOT,
    VALUES_SETS,
    Helm,
    container,
    find,
    mounts_of,
    supervisor_config_document,
    volume,
    worker_properties,
)
from kafka_connect_backup.config import Config, parse_config

pytestmark = pytest.mark.chart

EXAMPLE = ROOT / "images" / "backup" / "config.example.yaml"


def merged_values(files: list[Path]) -> dict[str, Any]:
    """values.yaml overlaid with the files, as helm does (maps merge, other values replace)."""

    def overlay(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
        out = dict(base)
        for key, value in top.items():
            if isinstance(value, dict) and isinstance(out.get(key), dict):
                out[key] = overlay(out[key], value)
            else:
                out[key] = value
        return out

    values: dict[str, Any] = yaml.safe_load((CHART / "values.yaml").read_text())
    for path in files:
        values = overlay(values, yaml.safe_load(path.read_text()) or {})
    return values


def expected_topics(values: dict[str, Any]) -> list[str]:
    candidates = [str(values["topic"] or "")]
    candidates += str(values["topicList"] or "").split(",")
    candidates += [str(t) for t in values["topics"]]
    topics: list[str] = []
    for topic in (c.strip() for c in candidates):
        if topic and topic not in topics:
            topics.append(topic)
    return topics


def under(path: str, mount: str) -> bool:
    path, mount = posixpath.normpath(path), posixpath.normpath(mount)
    return path == mount or path.startswith(mount.rstrip("/") + "/")


def volume_at(deployment: dict[str, Any], container_name: str, path: str) -> str:
    """Name of the volume holding `path` in the container (the deepest mount above it)."""
    mounts = mounts_of(deployment, container_name)
    holders = [m for m in mounts if under(path, m)]
    assert holders, f"{path} is on no volume of the {container_name} container"
    return mounts[max(holders, key=len)]


def alias_keys(model: type[BaseModel]) -> dict[str, Any]:
    """The config format's keys (aliases), nested for sub-models (optional ones too)."""
    keys: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        annotation = field.annotation
        # `Model | None`: an optional block, whose keys are the format's all the same.
        models = [a for a in get_args(annotation) if a is not type(None)] or [annotation]
        nested = len(models) == 1 and isinstance(models[0], type)
        nested = nested and issubclass(models[0], BaseModel)
        keys[field.alias or name] = alias_keys(models[0]) if nested else None
    return keys


def merged_keys(trees: list[Any]) -> Any:
    """The union of key trees."""
    if not all(isinstance(tree, dict) for tree in trees):
        return None
    out: dict[str, Any] = {}
    for tree in trees:
        for key, value in tree.items():
            out[key] = merged_keys([out[key], value]) if key in out else value
    return out


def key_tree(document: Any) -> Any:
    if isinstance(document, dict):
        return {
            key: key_tree(value)
            if isinstance(value, dict) and key not in ("connectorConfig", "keep")
            else None
            for key, value in document.items()
        }
    return None


@pytest.fixture(scope="module", params=sorted(VALUES_SETS))
def rendered(
    request: pytest.FixtureRequest, helm: Helm
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    files = VALUES_SETS[request.param]
    return merged_values(files), helm.template(files)


def test_the_rendered_config_loads_with_the_supervisor_parser(rendered: Any) -> None:
    values, manifests = rendered
    config = parse_config(supervisor_config_document(manifests), "rendered config.yaml")
    assert config.topics == expected_topics(values)
    assert config.sink_name == values["sinkName"]
    assert str(config.sink_path) == values["sinkPath"]
    assert config.sink_rotation.value == values["sinkRotation"]
    assert config.restart_timeout == str(values["restartTimeout"])
    assert config.compress_after_days == values["compressAfterDays"]
    assert config.reconcile_interval_seconds == values["supervisor"]["reconcileIntervalSeconds"]
    assert config.connect.stop_timeout_seconds == values["connect"]["stopTimeoutSeconds"]
    assert config.connect.connector_config == {
        k: str(v) for k, v in values["connect"]["connectorConfig"].items()
    }
    assert config.backup.enabled is values["backup"]["enabled"]
    assert config.backup.retention == values["backup"]["retention"]
    assert config.backup.engine == values["backup"]["encryption"]["engine"]
    assert config.backup.allow_init is values["backup"]["encryption"]["allowInit"]
    assert config.backup.require_target_mount is values["backup"]["requireTargetMount"]
    assert config.backup.snapshot_subdir == values["backup"]["snapshotSubdir"]
    level = str(values["supervisor"]["logLevel"] or values["loglevel"]).upper()
    assert config.log_level == {"TRACE": "DEBUG", "WARN": "WARNING"}.get(level, level)


def test_connect_url_and_bootstrap_match_the_worker(rendered: Any) -> None:
    values, manifests = rendered
    config = parse_config(supervisor_config_document(manifests))
    worker = worker_properties(manifests)
    url, listener = urlsplit(config.connect.url), urlsplit(worker["listeners"])
    assert (url.hostname, url.port) == ("127.0.0.1", values["connect"]["restPort"])
    assert (listener.hostname, listener.port) == (url.hostname, url.port)
    assert config.kafka.bootstrap_servers == worker["bootstrap.servers"]
    if not values["kafka"]["bootstrapServers"]:
        assert worker["bootstrap.servers"] == (
            f"{values['kafkaSvcName']}.{values['kafkaSvcNamespace']}.svc:{values['kafka']['port']}"
        )
    assert worker["plugin.path"] == values["connect"]["pluginPath"]
    assert (
        worker["key.converter"]
        == worker["value.converter"]
        == ("org.apache.kafka.connect.storage.StringConverter")
    )


def test_paths_match_the_volume_mounts(rendered: Any) -> None:
    values, manifests = rendered
    config = parse_config(supervisor_config_document(manifests))
    deployment = find(manifests, "Deployment", RELEASE)
    data_claim = values["storage"]["existingClaim"] or f"{RELEASE}-data"
    assert volume(deployment, "data")["persistentVolumeClaim"]["claimName"] == data_claim

    # Both containers see the sink files on the same data volume; Connect's offsets file too.
    for name in ("connect", "supervisor"):
        assert volume_at(deployment, name, str(config.sink_path)) == "data"
    offsets = worker_properties(manifests)["offset.storage.file.filename"]
    assert volume_at(deployment, "connect", offsets) == "data"

    # The supervisor runs with the config file the ConfigMap holds.
    supervisor = container(deployment, "supervisor")
    # args, so the image's entrypoint (tini) stays PID 1.
    assert "command" not in supervisor
    config_path = supervisor["args"][supervisor["args"].index("--config") + 1]
    assert supervisor["args"][:2] == ["kcb", "supervise"]
    assert volume_at(deployment, "supervisor", config_path) == "supervisor-config"
    assert posixpath.basename(config_path) == "config.yaml"
    assert {"name": "KCB_CONFIG", "value": config_path} in supervisor["env"]
    # Its work dir is writable although the root filesystem is read-only.
    assert supervisor["securityContext"]["readOnlyRootFilesystem"] is True
    assert (
        volume(deployment, volume_at(deployment, "supervisor", str(config.backup.work_dir)))[
            "emptyDir"
        ]
        == {}
    )
    # Connect reads the worker properties and the log config from its ConfigMap.
    connect = container(deployment, "connect")
    assert volume_at(deployment, "connect", connect["args"][0]) == "connect-config"
    assert posixpath.basename(connect["args"][0]) == "worker.properties"
    # Metrics and probes are where the supervisor listens.
    assert supervisor["ports"] == [
        {"name": "metrics", "containerPort": config.metrics.port, "protocol": "TCP"}
    ]

    if not config.backup.enabled:
        assert "encryption-key" not in mounts_of(deployment, "supervisor").values()
        return
    # The password file is the Secret's key, mounted where passwordFile points.
    password = str(config.backup.password_file)
    secret = volume(deployment, volume_at(deployment, "supervisor", password))["secret"]
    expected_secret = values["backup"]["encryption"]["existingSecret"] or f"{RELEASE}-encryption"
    assert secret["secretName"] == expected_secret
    assert secret["items"] == [
        {
            "key": values["backup"]["encryption"]["existingSecretKey"],
            "path": posixpath.basename(password),
        }
    ]
    if not values["backup"]["encryption"]["existingSecret"]:
        rendered_secret = find(manifests, "Secret", expected_secret)
        assert values["backup"]["encryption"]["existingSecretKey"] in rendered_secret["data"]
    # targetDir is exactly the target volume's mount; mountPoint an empty directory.
    target = str(config.backup.target_dir)
    assert mounts_of(deployment, "supervisor")[target] == "backup-target"
    target_volume = volume(deployment, "backup-target")
    if values["targetPvcName"]:
        assert target_volume["persistentVolumeClaim"] == {"claimName": values["targetPvcName"]}
    else:
        assert target_volume["nfs"] == values["backup"]["nfs"]
    view = mounts_of(deployment, "supervisor")[str(config.backup.mount_point)]
    assert volume(deployment, view)["emptyDir"] == {}
    # The connect container never sees the password or the backup.
    assert not {"encryption-key", "backup-target", "backup-view"} & set(
        mounts_of(deployment, "connect").values()
    )


def test_every_key_of_the_format_is_rendered_and_nothing_else(helm: Helm) -> None:
    rendered = key_tree(supervisor_config_document(helm.template([MINIMAL_VALUES])))
    example = key_tree(yaml.safe_load(EXAMPLE.read_text()))
    assert rendered == example
    # kafka.tls and kafka.authentication are rendered only when set (the example documents them
    # in comments): every key of the format is rendered by some setting, and nothing else.
    oauth = {
        "kafka.tls.enabled": True,
        "kafka.authentication.type": "oauth",
        "kafka.authentication.tokenEndpointUri": "https://sso.example.com/token",
        "kafka.authentication.clientId": "kafka-backup",
        "kafka.authentication.clientSecret.secretName": "backup-oauth",
        "kafka.authentication.clientSecret.key": "client-secret",
        "kafka.authentication.scope": "kafka",
    }
    secured = [
        helm.template([CHART / "ci" / "kafka-scram-tls-values.yaml"]),
        helm.template([CHART / "ci" / "kafka-mtls-values.yaml"]),
        helm.template([MINIMAL_VALUES], set_values=oauth),
    ]
    everything = merged_keys(
        [rendered] + [key_tree(supervisor_config_document(m)) for m in secured]
    )
    assert everything == alias_keys(Config)


@pytest.mark.parametrize(
    ("set_values", "attribute", "expected"),
    [
        ({"restartTimeout": "1.5h"}, "restart_timeout_seconds", 5400),
        ({"restartTimeout": 3600}, "restart_timeout_seconds", 3600),
        ({"restartTimeout": "30"}, "restart_timeout_seconds", 30),
        ({"compressAfterDays": 0}, "compress_after_days", 0),
        ({"compressAfterDays": 0.5}, "compress_after_days", 0.5),
        ({"backup.retention": 1000}, "backup.retention", 1000),
        (
            {"restartTimeout": "15m", "backup.keep": {"monthly": 1, "hourly": 24, "daily": 30}},
            "backup.keep",
            {"hourly": 24, "daily": 30, "monthly": 1},
        ),
        ({"backup.keepAt": "23:59"}, "backup.keep_at", "23:59"),
        ({"sinkName": "sink.29_a-b"}, "sink_name", "sink.29_a-b"),
        ({"sinkRotation": "hourly"}, "sink_rotation", "hourly"),
        ({"topic": "", "topicList": "a.b,c_d, e-f"}, "topics", ["a.b", "c_d", "e-f"]),
        ({"loglevel": "trace", "supervisor.logLevel": ""}, "log_level", "DEBUG"),
        ({"supervisor.logLevel": "warn"}, "log_level", "WARNING"),
        (
            {"connect.connectorConfig.errors\\.tolerance": "all"},
            "connect.connector_config",
            {"errors.tolerance": "all"},
        ),
        ({"connect.stopTimeoutSeconds": 0.5}, "connect.stop_timeout_seconds", 0.5),
        ({"supervisor.reconcileIntervalSeconds": 2.5}, "reconcile_interval_seconds", 2.5),
    ],
)
def test_edge_values_the_schema_accepts_give_a_valid_config_with_that_meaning(
    helm: Helm, set_values: dict[str, Any], attribute: str, expected: Any
) -> None:
    # Whatever passes the chart's schema must pass the supervisor's (no pod crash-looping on a
    # config helm accepted) and keep its meaning through rendering.
    config: Any = parse_config(
        supervisor_config_document(helm.template([MINIMAL_VALUES], set_values=set_values))
    )
    for part in attribute.split("."):
        config = getattr(config, part)
    assert config == expected
