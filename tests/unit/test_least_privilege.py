"""The supervisor as the chart's devicePlugin mode runs it: root with CAP_SYS_ADMIN alone and the
pod's fsGroup as a supplementary group (setpriv, tests/privileges.py). Root without capabilities
is an ordinary user to the kernel, so each step that touches the Connect user's files or an
older release's backup volume is run that way here: real rsnapshot rotations, staging links,
durable writes, and the backup volume's ownership take-over."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from kafka_connect_backup.core import durable, process_status
from kafka_connect_backup.supervisor.backup import ownership
from kafka_connect_backup.tools import rsnapshot
from privileges import FS_GROUP, python_with_capabilities, run_with_capabilities

pytestmark = pytest.mark.unit

DEVICE_PLUGIN = ["SYS_ADMIN"]  # kcb.fuseCapabilities
CONNECT_UID = 1000


def connect_sink_dir(path: Path) -> Path:
    """sinkPath as the sink-dir init container leaves it: the Connect user's, 2775."""
    path.mkdir(parents=True)
    os.chown(path, CONNECT_UID, FS_GROUP)
    path.chmod(0o2775)
    return path


def connect_file(path: Path, text: str, mode: int) -> Path:
    path.write_text(text)
    os.chown(path, CONNECT_UID, FS_GROUP)
    path.chmod(mode)
    return path


def test_process_status_reads_the_kernels_view(tmp_path: Path) -> None:
    status = tmp_path / "status"
    status.write_text("Name:\tkcb\nUmask:\t0002\nCapEff:\t0000000000200000\n")
    assert process_status.umask(status) == 0o002
    assert process_status.has_capability(21, status)  # CAP_SYS_ADMIN
    assert not process_status.has_capability(process_status.CAP_DAC_OVERRIDE, status)
    assert process_status.umask(tmp_path / "missing") == process_status.DEFAULT_UMASK
    assert not process_status.has_capability(0, tmp_path / "missing")
    # This process: the tests run as root with root's capabilities.
    assert process_status.has_capability(process_status.CAP_DAC_OVERRIDE)
    previous = os.umask(0o027)
    try:
        assert process_status.umask() == 0o027
    finally:
        os.umask(previous)


def test_rsnapshot_rotates_the_connect_users_files_with_sys_admin_alone(tmp_path: Path) -> None:
    source = connect_sink_dir(tmp_path / "filesink")
    connect_file(source / "t-s-2026-11.sink", "a\n", 0o664)
    connect_file(source / "t-s-2026-10.sink", "old\n", 0o644)  # an earlier release's umask
    root = tmp_path / "snapshots"
    root.mkdir()
    conf = tmp_path / "rsnapshot.conf"
    lockfile = tmp_path / "rsnapshot.pid"
    conf.write_text(
        rsnapshot.render_config(
            snapshot_root=root, source_dir=source, levels={"alpha": 2}, lockfile=lockfile
        )
    )
    # Three runs of the backup step's copy, `rsnapshot sync` and `rsnapshot alpha`: a first
    # copy, a rotation (mv, cp -al .sync), a rotation that deletes.
    copy = (
        "import sys; from pathlib import Path\n"
        "from kafka_connect_backup.supervisor.backup.sync_copy import fill_sync_dir\n"
        "fill_sync_dir(Path(sys.argv[1]), Path(sys.argv[2]))\n"
    )
    for run in range(3):
        connect_file(source / "t-s-2026-11.sink", "a\n" * (run + 1), 0o664)
        copied = python_with_capabilities(copy, DEVICE_PLUGIN, args=[str(source), str(root)])
        assert copied.returncode == 0, copied.stdout + copied.stderr
        for step in (rsnapshot.SYNC, rsnapshot.LEVEL):
            done = run_with_capabilities(["rsnapshot", "-c", str(conf), step], DEVICE_PLUGIN)
            assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(p.name for p in root.iterdir()) == [".sync", "alpha.0", "alpha.1"]
    newest = root / "alpha.0" / rsnapshot.HOST_DIR
    assert (newest / "t-s-2026-11.sink").read_text() == "a\n" * 3
    assert (root / "alpha.1" / rsnapshot.HOST_DIR / "t-s-2026-11.sink").read_text() == "a\n" * 2
    # The snapshot is root's (rsync --no-owner --no-group), whatever the source's owner.
    assert {p.lstat().st_uid for p in root.rglob("*")} == {0}


def test_rsync_keeping_the_owner_needs_chown(tmp_path: Path) -> None:
    # Why --no-owner: keeping the Connect user's owner (rsync -a as root) is refused.
    source = connect_sink_dir(tmp_path / "filesink")
    connect_file(source / "t-s-2026-11.sink", "a\n", 0o664)
    target = tmp_path / "target"
    target.mkdir()
    kept = run_with_capabilities(["rsync", "-a", f"{source}/", f"{target}/"], DEVICE_PLUGIN)
    assert kept.returncode == 23 and "Operation not permitted" in kept.stderr
    args = rsnapshot.RSYNC_LONG_ARGS.split()
    done = run_with_capabilities(["rsync", "-a", *args, f"{source}/", f"{target}/"], DEVICE_PLUGIN)
    assert done.returncode == 0, done.stderr


STAGE = """
import json, sys
from pathlib import Path
from kafka_connect_backup.supervisor import staging
sink, live, out = (Path(a) for a in sys.argv[1:4])
frozen = staging.freeze(sink)
room = staging.has_room(sink, frozen, [live], staging.Margin(bytes=0, fraction=0.0))
staged = staging.stage(sink, frozen, [live])
inodes = {p.name: p.stat().st_ino for p in staged.iterdir()}
out.write_text(json.dumps({"room": room, "inodes": inodes}))
staging.clear(sink)
"""


def test_staging_links_group_writable_files_and_copies_the_others(tmp_path: Path) -> None:
    sink = connect_sink_dir(tmp_path / "filesink")
    live = connect_file(sink / "t-s-2026-11.sink", "live\n", 0o664)
    shared = connect_file(sink / "t-s-2026-10.sink", "umask 002\n", 0o664)
    private = connect_file(sink / "t-s-2026-09.sink", "umask 022\n", 0o644)
    own = sink / "t-s-2026-08.sink-1790000000.gz"  # the supervisor's compressed file
    own.write_bytes(b"\x1f\x8b")
    out = tmp_path / "out.json"
    done = python_with_capabilities(
        STAGE, DEVICE_PLUGIN, args=[str(sink), str(live), str(out)], groups=[FS_GROUP]
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(out.read_text())
    inodes = result["inodes"]
    assert result["room"] is True
    assert inodes[shared.name] == shared.stat().st_ino  # hard-linked through the group
    assert inodes[own.name] == own.stat().st_ino
    assert inodes[private.name] != private.stat().st_ino  # copied: linking it is refused
    assert inodes[live.name] != live.stat().st_ino
    assert "staging.copied_unlinkable" in done.stdout + done.stderr
    assert private.name in done.stdout + done.stderr
    assert not (sink / ".kcb-staging").exists()


def test_the_supervisors_files_stay_writable_after_a_chown_to_the_connect_user(
    tmp_path: Path,
) -> None:
    # volumePermissions chowns the data volume to 1000:1000 at every start: a file the
    # supervisor wrote (under its umask 002) must stay its to replace, through the group.
    state = tmp_path / "sink" / ".kcb-state.json"
    state.parent.mkdir()
    with durable.shared_umask():
        durable.atomic_write_text(state, "{}")
    assert state.stat().st_mode & 0o777 == 0o664
    os.chown(state.parent, CONNECT_UID, FS_GROUP)
    state.parent.chmod(0o2775)
    os.chown(state, CONNECT_UID, FS_GROUP)
    code = (
        "from pathlib import Path; from kafka_connect_backup.core import durable; "
        f"p = Path({str(state)!r}); assert p.read_text() == '{{}}'; "
        "durable.atomic_write_text(p, 'new')"
    )
    done = python_with_capabilities(code, DEVICE_PLUGIN, groups=[FS_GROUP])
    assert done.returncode == 0, done.stderr
    assert state.read_text() == "new"


def older_backup_volume(target: Path) -> Path:
    """A ciphertext tree as an earlier release left it: the Connect user's directory and file."""
    (target / "cipherdir").mkdir(parents=True)
    (target / "gocryptfs.conf").write_text("{}")
    kept = target / "cipherdir" / "cipherfile"
    kept.write_text("x")
    for path in (target / "cipherdir", kept):
        os.lchown(path, CONNECT_UID, FS_GROUP)
    (target / "cipherdir").chmod(0o755)
    return kept


TAKE_OVER = """
from pathlib import Path
from kafka_connect_backup.core.errors import KcbError
from kafka_connect_backup.supervisor.backup import ownership
try:
    print("changed", ownership.take_over(Path({target!r})))
except KcbError as exc:
    print("refused", exc.cause, exc.message, "fix:", exc.fix)
"""


def test_an_older_releases_backup_volume_is_refused_without_chown_then_taken_over(
    tmp_path: Path,
) -> None:
    target = tmp_path / "target"
    kept = older_backup_volume(target)
    code = TAKE_OVER.format(target=str(target))

    refused = python_with_capabilities(code, DEVICE_PLUGIN)
    assert refused.returncode == 0, refused.stderr
    line = refused.stdout.strip().splitlines()[-1]
    assert line.startswith("refused backup_volume_foreign_owner the backup volume holds ")
    assert "owned by uid 1000" in line and str(target / "cipherdir") in line
    assert line.endswith("fix: " + ownership.FIX)
    assert kept.stat().st_uid == CONNECT_UID  # nothing changed

    # The privileged mode (root's capabilities) takes the volume over, the owner only ...
    assert ownership.take_over(target) == 2
    assert {(p.lstat().st_uid, p.lstat().st_gid) for p in (target / "cipherdir", kept)} == {
        (0, FS_GROUP)
    }
    # ... after which SYS_ADMIN alone is enough.
    again = python_with_capabilities(code, DEVICE_PLUGIN)
    assert again.stdout.strip().splitlines()[-1] == "changed 0"


def test_a_volume_is_walked_once_per_process(tmp_path: Path) -> None:
    """Only this process writes the volume while it runs, all of it as itself: the walk over
    every snapshot's entries is not repeated each cycle; a restart walks again."""
    target = tmp_path / "target"
    kept = older_backup_volume(target)
    assert ownership.take_over(target) == 2
    os.lchown(kept, CONNECT_UID, FS_GROUP)  # what only another release could have done
    assert ownership.take_over(target) == 0
    assert kept.stat().st_uid == CONNECT_UID
    restarted = python_with_capabilities(TAKE_OVER.format(target=str(target)), ["CHOWN"])
    assert restarted.stdout.strip().splitlines()[-1] == "changed 1", restarted.stderr
    assert kept.stat().st_uid == 0


def test_take_over_keeps_what_even_privileged_root_may_not_chown(tmp_path: Path) -> None:
    # NFS with root_squash refuses root's chown: the privileged mode warns and carries on.
    target = tmp_path / "target"
    older_backup_volume(target)
    code = TAKE_OVER.format(target=str(target))
    # CHOWN missing but DAC_OVERRIDE held: the kernel refuses as root_squash would.
    kept = python_with_capabilities(code, ["SYS_ADMIN", "DAC_OVERRIDE"])
    assert kept.stdout.strip().splitlines()[-1] == "changed 0", kept.stdout + kept.stderr
    assert "volume.owner_kept" in kept.stdout + kept.stderr
