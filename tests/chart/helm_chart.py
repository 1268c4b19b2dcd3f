"""Render the chart with the real helm binary (.tools/bin/helm) and pick manifests apart.

Shared by the chart tier's tests; helm runs with a throw-away HELM_*_HOME so it never reads or
writes the user's helm config, and with the project's HELM_PLUGINS (helm-unittest).
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "kafka-connect-backup"
HELM = ROOT / ".tools" / "bin" / "helm"
HELM_PLUGINS = ROOT / ".tools" / "helm-plugins"
RELEASE = "kcb"
NAMESPACE = "backup"

# The defaults plus topics (no topic has a default, so the bare defaults do not render).
MINIMAL_VALUES = CHART / "ci" / "minimal-values.yaml"

# The values sets every check runs on: every ci/ file, among them the defaults plus topics
# (minimal-values) and the original chart's values.
VALUES_SETS: dict[str, list[Path]] = {
    path.stem: [path] for path in sorted((CHART / "ci").glob("*.yaml"))
}


class HelmError(Exception):
    def __init__(self, args: list[str], result: subprocess.CompletedProcess[str]) -> None:
        super().__init__(f"helm {' '.join(args)} exited {result.returncode}:\n{result.stderr}")
        self.returncode = result.returncode
        self.stderr = result.stderr
        self.stdout = result.stdout


@dataclass(frozen=True)
class Helm:
    binary: Path
    home: Path

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "HELM_PLUGINS": str(HELM_PLUGINS),
            "HELM_CONFIG_HOME": str(self.home / "config"),
            "HELM_CACHE_HOME": str(self.home / "cache"),
            "HELM_DATA_HOME": str(self.home / "data"),
            "NO_COLOR": "1",
        }

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(self.binary), *args],
            capture_output=True,
            text=True,
            env=self.env(),
            timeout=300,
            check=False,
        )
        if check and result.returncode != 0:
            raise HelmError(list(args), result)
        return result

    def template(
        self,
        values_files: list[Path] | tuple[Path, ...] = (),
        set_values: dict[str, Any] | None = None,
        kube_version: str | None = None,
        extra: tuple[str, ...] = (),
    ) -> list[dict[str, Any]]:
        """`helm template` of the chart; the manifests as parsed documents."""
        args = ["template", RELEASE, str(CHART), "--namespace", NAMESPACE]
        for path in values_files:
            args += ["--values", str(path)]
        for key, value in (set_values or {}).items():
            if isinstance(value, str):  # a comma would start the next key=value pair
                args += ["--set-string", f"{key}={value.replace(',', chr(92) + ',')}"]
            else:  # numbers and booleans keep their type (json: true, 3)
                args += ["--set-json", f"{key}={json.dumps(value)}"]
        if kube_version:
            args += ["--kube-version", kube_version]
        output = self.run(*args, *extra).stdout
        return [doc for doc in yaml.safe_load_all(output) if doc]


def find(manifests: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    """The one manifest of this kind (and name)."""
    found = [
        m
        for m in manifests
        if m["kind"] == kind and (name is None or m["metadata"]["name"] == name)
    ]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def container(deployment: dict[str, Any], name: str) -> dict[str, Any]:
    containers: list[dict[str, Any]] = deployment["spec"]["template"]["spec"]["containers"]
    matches = [c for c in containers if c["name"] == name]
    assert len(matches) == 1, f"expected one container {name}"
    return matches[0]


def mounts_of(deployment: dict[str, Any], container_name: str) -> dict[str, str]:
    """mountPath -> volume name of one container."""
    return {
        m["mountPath"]: m["name"] for m in container(deployment, container_name)["volumeMounts"]
    }


def volume(deployment: dict[str, Any], name: str) -> dict[str, Any]:
    volumes: list[dict[str, Any]] = deployment["spec"]["template"]["spec"]["volumes"]
    matches = [v for v in volumes if v["name"] == name]
    assert len(matches) == 1, f"expected one volume {name}"
    return matches[0]


def supervisor_config_document(manifests: list[dict[str, Any]]) -> Any:
    """The supervisor's config.yaml as the chart renders it, parsed."""
    configmap = find(manifests, "ConfigMap", f"{RELEASE}-supervisor")
    return yaml.safe_load(configmap["data"]["config.yaml"])


def worker_properties(manifests: list[dict[str, Any]]) -> dict[str, str]:
    configmap = find(manifests, "ConfigMap", f"{RELEASE}-connect")
    properties: dict[str, str] = {}
    for line in configmap["data"]["worker.properties"].splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            assert key not in properties, f"worker property {key} set twice"
            properties[key] = value
    return properties
