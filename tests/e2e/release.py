"""One Helm release of the chart in its own namespace on the e2e cluster, driven the way a user
drives it: `helm install/upgrade/uninstall` with a values file, `kubectl exec` into the
supervisor container, `kubectl logs`, `kubectl delete pod`.

The data volume and the backup target are hostPath PersistentVolumes under the test's tmp
directory (no fsGroup is applied on hostPath, as on many NFS volumes), pre-bound to the claims
the chart makes (data) or the test makes (`targetPvcName`), so the test reads the sink files
and the ciphertext on the host directly.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from kafka_stack import Broker
from kube_cluster import ClusterError, KubeCluster
from waiting import eventually

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "kafka-connect-backup"
HELM = ROOT / ".tools" / "bin" / "helm"
CONNECT_UID = 1000  # the Connect image's user, the chart's podSecurityContext.runAsUser


class Release:
    def __init__(
        self,
        cluster: KubeCluster,
        broker: Broker,
        images: Mapping[str, str],
        *,
        namespace: str,
        volumes: Path,
        name: str = "kafka-backup",
    ) -> None:
        self.cluster, self.broker, self.images = cluster, broker, images
        self.namespace, self.name, self.volumes = namespace, name, volumes
        self.persistent_volumes: list[str] = []

    # --- kubectl and helm ---------------------------------------------------------------

    def kubectl(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return self.cluster.kubectl("-n", self.namespace, *args, **kwargs)

    def kubectl_command(self, *args: str) -> list[str]:
        return self.cluster.kubectl_command("-n", self.namespace, *args)

    def helm(
        self, *args: str, check: bool = True, timeout: float = 600
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [str(HELM), "--namespace", self.namespace, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env={
                **self.cluster.env(),
                "HELM_CACHE_HOME": str(self.volumes / "helm-cache"),
                "HELM_CONFIG_HOME": str(self.volumes / "helm-config"),
                "HELM_DATA_HOME": str(self.volumes / "helm-data"),
            },
        )
        if check and proc.returncode != 0:
            pytest.fail(f"helm {' '.join(args[:2])} failed ({proc.returncode}):\n{proc.stderr}")
        return proc

    def create_namespace(self) -> None:
        self.cluster.kubectl("create", "namespace", self.namespace)

    def apply(self, manifest: Mapping[str, Any]) -> None:
        self.kubectl("apply", "-f", "-", input=json.dumps(manifest))

    # --- volumes and secrets ------------------------------------------------------------

    def host_volume(self, claim: str, directory: Path, *, owner: int | None = None) -> Path:
        """A hostPath PersistentVolume pre-bound to `claim` in this namespace. `owner`: chown
        the directory as a provisioner with fsGroup support would leave it; None leaves it
        root's, as hostPath and many NFS exports do."""
        directory.mkdir(parents=True, exist_ok=True)
        if owner is not None:
            os.chown(directory, owner, owner)
        pv = f"{self.namespace}-{claim}"
        self.apply(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolume",
                "metadata": {"name": pv},
                "spec": {
                    "capacity": {"storage": "20Gi"},
                    "accessModes": ["ReadWriteOnce"],
                    "persistentVolumeReclaimPolicy": "Retain",
                    "storageClassName": "",
                    "hostPath": {"path": str(directory), "type": "Directory"},
                    "claimRef": {"namespace": self.namespace, "name": claim},
                },
            }
        )
        self.persistent_volumes.append(pv)
        return directory

    def data_volume(self, *, owner: int | None = CONNECT_UID) -> Path:
        return self.host_volume(f"{self.name}-data", self.volumes / "data", owner=owner)

    def target_claim(self, claim: str) -> Path:
        """The backup target: a hostPath volume behind the PVC `claim` (the values'
        targetPvcName), root-owned like an NFS export written by a root supervisor."""
        directory = self.host_volume(claim, self.volumes / "backup-target")
        self.apply(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": {"name": claim, "namespace": self.namespace},
                "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "storageClassName": "",
                    "volumeName": f"{self.namespace}-{claim}",
                    "resources": {"requests": {"storage": "1Gi"}},
                },
            }
        )
        return directory

    def password_secret(self, secret: str, password: str) -> None:
        self.kubectl(
            "create", "secret", "generic", secret, "--from-file=password=/dev/stdin",
            input=password + "\n",
        )  # fmt: skip

    # --- the release --------------------------------------------------------------------

    def overrides(self) -> dict[str, Any]:
        """Only what this cluster needs beyond a user's values: local images, the broker."""
        connect = self.images["connect"]
        repository, tag = self.images["supervisor"].rsplit(":", 1)
        return {
            "image": {
                "name": connect,
                "connect": {"pullPolicy": "Never"},
                "supervisor": {"repository": repository, "tag": tag, "pullPolicy": "Never"},
            },
            "kafka": {"bootstrapServers": self.broker.bootstrap},
        }

    def values_files(self, values: str | Mapping[str, Any], extra: Mapping[str, Any]) -> list[str]:
        user = self.volumes / f"values-{time.monotonic_ns()}.yaml"
        user.write_text(values if isinstance(values, str) else yaml.safe_dump(dict(values)))
        ours = self.volumes / f"overrides-{time.monotonic_ns()}.yaml"
        ours.write_text(yaml.safe_dump({**self.overrides(), **extra}))
        return ["-f", str(user), "-f", str(ours)]

    def install(
        self, values: str | Mapping[str, Any], extra: Mapping[str, Any] | None = None
    ) -> subprocess.CompletedProcess[str]:
        files = self.values_files(values, extra or {})
        return self.helm("install", self.name, str(CHART), *files, "--wait", "--timeout", "5m")

    def upgrade(
        self, values: str | Mapping[str, Any], extra: Mapping[str, Any] | None = None
    ) -> subprocess.CompletedProcess[str]:
        files = self.values_files(values, extra or {})
        return self.helm("upgrade", self.name, str(CHART), *files, "--wait", "--timeout", "5m")

    def uninstall(self) -> None:
        self.helm("uninstall", self.name, "--wait", "--timeout", "3m")

    # --- the pod ------------------------------------------------------------------------

    def pods(self) -> list[dict[str, Any]]:
        out = self.kubectl(
            "get", "pods", "-l", f"app.kubernetes.io/instance={self.name}", "-o", "json"
        ).stdout
        items: list[dict[str, Any]] = json.loads(out)["items"]
        return items

    def pod(self) -> dict[str, Any]:
        """The one running pod (not one being deleted)."""
        live = [p for p in self.pods() if not p["metadata"].get("deletionTimestamp")]
        assert len(live) == 1, [p["metadata"]["name"] for p in live]
        return live[0]

    def wait_ready(self, timeout: float = 300, *, other_than: str | None = None) -> dict[str, Any]:
        """Wait for a pod with both containers Ready (a new one when `other_than` is a name)."""

        def ready() -> tuple[dict[str, Any] | None, str]:
            """A Ready pod, or None and what the last pod's containers showed."""
            seen = "no pod"
            for pod in self.pods():
                if (
                    pod["metadata"].get("deletionTimestamp")
                    or pod["metadata"]["name"] == other_than
                ):
                    continue
                statuses = pod["status"].get("containerStatuses", [])
                seen = json.dumps(pod["status"].get("initContainerStatuses", []) + statuses)[-1500:]
                if len(statuses) == 2 and all(s["ready"] for s in statuses):
                    return pod, seen
            return None, seen

        try:
            pod, _ = eventually(
                ready, "a Ready pod", timeout=timeout, until=lambda r: r[0] is not None, interval=2
            )
        except AssertionError as exc:
            pytest.fail(f"{exc}\n{self.describe()}")
        assert pod is not None
        return pod

    def exec(
        self, *command: str, container: str = "supervisor", check: bool = True,
        input: str | None = None, timeout: float = 600,  # noqa: A002 (as subprocess.run)
    ) -> subprocess.CompletedProcess[str]:  # fmt: skip
        proc = self.kubectl(
            "exec", "-i", f"deploy/{self.name}", "-c", container, "--", *command,
            input=input, check=False, timeout=timeout,
        )  # fmt: skip
        if check and proc.returncode != 0:
            pytest.fail(
                f"kubectl exec {' '.join(command)} exited {proc.returncode}:\n"
                f"stdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
            )
        return proc

    def kcb_json(self, *args: str) -> Any:
        return json.loads(self.exec("kcb", *args, "--json").stdout)

    def logs(self, container: str = "supervisor", *, pod: str | None = None) -> str:
        target = pod or f"deploy/{self.name}"
        return self.kubectl("logs", target, "-c", container, check=False).stdout

    def log_events(
        self, container: str = "supervisor", *, pod: str | None = None
    ) -> list[dict[str, Any]]:
        events = []
        for line in self.logs(container, pod=pod).splitlines():
            try:
                events.append(json.loads(line))
            except ValueError:
                continue
        return events

    def wait_for_event(
        self, event: str, *, count: int = 1, timeout: float = 300, pod: str | None = None
    ) -> list[dict[str, Any]]:
        try:
            return eventually(
                lambda: [e for e in self.log_events(pod=pod) if e.get("event") == event],
                f"{count} x {event} logged",
                timeout=timeout,
                until=lambda found: len(found) >= count,
                interval=2,
            )
        except AssertionError as exc:
            pytest.fail(f"{exc}\n{self.logs(pod=pod)[-4000:]}")

    def describe(self) -> str:
        return self.kubectl("describe", "pods", check=False).stdout[-4000:]

    # --- clean-up -----------------------------------------------------------------------

    def dump_logs_on_failure(self, request: pytest.FixtureRequest) -> None:
        report = getattr(request.node, "rep_call", None)
        if report is None or not report.failed:
            return
        for container in ("connect", "supervisor"):
            print(f"--- {container} log ---\n{self.logs(container)[-6000:]}")
        print(f"--- describe ---\n{self.describe()}")

    def delete(self) -> None:
        self.helm("uninstall", self.name, "--wait", "--timeout", "3m", check=False)
        try:
            self.cluster.kubectl("delete", "namespace", self.namespace, "--wait=true", timeout=300)
            for pv in self.persistent_volumes:
                self.cluster.kubectl("delete", "pv", pv, "--wait=true", check=False)
        except ClusterError as exc:
            pytest.fail(f"could not clean up namespace {self.namespace}: {exc}")
