"""volumePermissions: the `volume-permissions` init container for data volumes that ignore
fsGroup. Checked on every values set (who runs as root, how the data volume is mounted) and by
running the rendered command itself: values are only arguments, and the rendered capabilities
are exactly the ones it needs on a tree owned by another uid."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chart.helm_chart import MINIMAL_VALUES, RELEASE, VALUES_SETS, Helm, find
from privileges import run_with_capabilities

pytestmark = pytest.mark.chart

# A sinkPath a shell would run if it ever became part of the script.
HOSTILE = "a\"b $(touch pwned1); c'd `touch pwned2` #e"


def pod_spec(manifests: list[dict[str, Any]]) -> dict[str, Any]:
    spec: dict[str, Any] = find(manifests, "Deployment", RELEASE)["spec"]["template"]["spec"]
    return spec


def all_containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [*spec.get("initContainers", []), *spec["containers"]]


def runs_as_root(spec: dict[str, Any], container: dict[str, Any]) -> bool:
    context = container.get("securityContext", {})
    uid = context.get("runAsUser", spec.get("securityContext", {}).get("runAsUser"))
    return bool(uid == 0)


@pytest.mark.parametrize("values_set", sorted(VALUES_SETS))
def test_volume_permissions_is_the_only_root_container_besides_a_fuse_supervisor(
    helm: Helm, values_set: str
) -> None:
    manifests = helm.template(VALUES_SETS[values_set])
    spec = pod_spec(manifests)
    names = [c["name"] for c in spec.get("initContainers", [])]
    enabled = "volume-permissions" in names
    assert enabled == (values_set == "volume-permissions-values")
    assert names == (["volume-permissions", "sink-dir"] if enabled else ["sink-dir"])
    backup = "backup-target" in {v["name"] for v in spec["volumes"]}
    root = {c["name"] for c in all_containers(spec) if runs_as_root(spec, c)}
    expected = {"volume-permissions"} if enabled else set()
    if backup:
        expected.add("supervisor")
    assert root == expected


@pytest.mark.parametrize("values_set", sorted(VALUES_SETS))
def test_every_container_mounts_the_data_volume_the_same_way(helm: Helm, values_set: str) -> None:
    spec = pod_spec(helm.template(VALUES_SETS[values_set]))
    mounts = {
        c["name"]: [m for m in c["volumeMounts"] if m["name"] == "data"]
        for c in all_containers(spec)
    }
    expected = mounts["connect"]
    assert expected, "connect does not mount the data volume"
    for name, data_mounts in mounts.items():
        assert data_mounts == expected, name


def render_command(helm: Helm, data: Path, sink_path: str, uid: int, gid: int) -> list[str]:
    manifests = helm.template(
        [MINIMAL_VALUES],
        set_values={
            "volumePermissions.enabled": True,
            "storage.mountPath": str(data),
            "sinkPath": sink_path,
            "podSecurityContext.runAsUser": uid,
            "podSecurityContext.runAsGroup": gid,
        },
    )
    (container,) = [
        c for c in pod_spec(manifests)["initContainers"] if c["name"] == "volume-permissions"
    ]
    command: list[str] = container["command"]
    return command


def test_a_hostile_sink_path_is_created_as_named_and_runs_nothing(
    helm: Helm, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    sink = data / HOSTILE
    command = render_command(helm, data, str(sink), os.getuid(), os.getgid())
    assert command[4] == str(sink)
    subprocess.run(command, cwd=tmp_path, check=True, timeout=30)
    assert sink.is_dir()
    assert [p.name for p in data.iterdir()] == [HOSTILE]
    assert not list(tmp_path.rglob("pwned*"))


def exact_caps_tree(root: Path, outside: Path) -> None:
    """What a volume written by another uid looks like: private dirs, a set-gid file, and a
    symbolic link out of the volume (which must not be followed)."""
    old = root / "filesink"
    (old / "snapshot").mkdir(parents=True)
    (old / "orders-sink-2021-01.sink").write_text("{}\n")
    (old / "snapshot" / "orders-sink-2020-12.sink-1609459200.gz").write_bytes(b"")
    (old / "setgid-file").write_text("x\n")
    (old / "link-out").symlink_to(outside)
    for path in [root, *root.rglob("*")]:
        os.lchown(path, 1234, 1234)
    for directory in (root, old, old / "snapshot"):
        directory.chmod(0o700)
    (old / "setgid-file").chmod(0o2640)


def test_the_rendered_capabilities_are_exactly_the_ones_needed(helm: Helm, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.write_text("not on the data volume\n")
    data = tmp_path / "data"
    command = render_command(helm, data, str(data / "filesink" / "new"), 1000, 1000)
    manifests = helm.template([MINIMAL_VALUES], set_values={"volumePermissions.enabled": True})
    (container,) = [c for c in pod_spec(manifests)["initContainers"] if c["name"] == command[3]]
    caps = container["securityContext"]["capabilities"]
    assert caps["drop"] == ["ALL"]
    assert caps["add"] == ["CHOWN", "DAC_OVERRIDE", "FOWNER"]

    # Each capability is needed: without it the command fails on this tree.
    for missing in caps["add"]:
        shutil.rmtree(data, ignore_errors=True)
        data.mkdir()
        exact_caps_tree(data, outside)
        fewer = [c for c in caps["add"] if c != missing]
        assert run_with_capabilities(command, fewer, gid=1000).returncode != 0, missing

    # With all of them, the whole volume is the pod user's, and nothing outside it changed.
    shutil.rmtree(data)
    data.mkdir()
    exact_caps_tree(data, outside)
    assert run_with_capabilities(command, caps["add"], gid=1000).returncode == 0
    for path in [data, *data.rglob("*")]:
        stat = path.lstat()
        assert (stat.st_uid, stat.st_gid) == (1000, 1000), path
    assert (data / "filesink" / "new").is_dir()
    assert outside.stat().st_uid == os.getuid()


@pytest.fixture
def open_tmp() -> Iterator[Path]:
    """A directory another uid can reach (pytest's tmp_path lies below a 0700 directory)."""
    path = Path(tempfile.mkdtemp(prefix="kcb-sink-dir-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path)


def test_the_sink_dir_init_container_shares_sink_path_with_the_pods_group(
    helm: Helm, open_tmp: Path
) -> None:
    # As the pod runs it (the Connect user, no capabilities): sinkPath group-writable and
    # set-gid, the user's older files (umask 022) made group-writable, nothing else touched.
    tmp_path = open_tmp
    data = tmp_path / "data"
    data.mkdir()
    os.chown(data, 1000, 1000)
    sink = data / HOSTILE
    manifests = helm.template([MINIMAL_VALUES], set_values={"sinkPath": str(sink)})
    (container,) = [c for c in pod_spec(manifests)["initContainers"] if c["name"] == "sink-dir"]
    command = container["command"]
    assert command[-1] == str(sink)
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    first = run_with_capabilities(command, [], uid=1000, gid=1000, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert sink.stat().st_mode & 0o7777 == 0o2775
    assert not list(tmp_path.rglob("pwned*"))

    older = sink / "t-s-2026-10.sink"
    older.write_text("a\n")
    os.chown(older, 1000, 1000)
    older.chmod(0o644)
    theirs = sink / "t-s-2026-09.sink-1790000000.gz"  # the supervisor's: not the user's to chmod
    theirs.write_bytes(b"")
    theirs.chmod(0o644)
    again = run_with_capabilities(command, [], uid=1000, gid=1000, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert older.stat().st_mode & 0o777 == 0o664
    assert theirs.stat().st_mode & 0o777 == 0o644
