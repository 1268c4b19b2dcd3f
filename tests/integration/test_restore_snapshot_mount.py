"""`kcb snapshots list` and `restore.py --snapshot` on the real encrypted backup (encfs and
gocryptfs, real rsnapshot): in the pod, backup.mountPoint is empty outside a supervisor cycle,
so both must mount the volume themselves, privately, and always unmount."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from kafka_connect_backup.cli import main as kcb
from kafka_connect_backup.config import Config, load_config
from kafka_connect_backup.core.units import human_bytes
from kafka_connect_backup.inspect.verify_record import load_last_verification
from kafka_connect_backup.restore.backup_mount import snapshot_access
from kafka_connect_backup.restore.cli import main as restore_main
from kafka_connect_backup.supervisor.backup.snapshot import backup_snapshot
from kafka_connect_backup.tools import fuse
from kafka_connect_backup.tools.volume import mounted_volume
from kafka_helpers import end_offsets, wait_for_first_record, write_sink
from local_config import write_config
from storage_helpers import (
    PASSWORD,
    RESTORE_SCRIPT,
    StorageEnv,
    fuse_mounts,
    mount_tmpfs,
    storage_env,
    tree,
)

pytestmark = pytest.mark.integration

NOVEMBER = "orders-sink-2026-11.sink"
OCTOBER_GZ = "orders-sink-2026-10.sink-1790000000.gz"


@pytest.fixture
def env(tmp_path: Path) -> Iterator[StorageEnv]:
    with storage_env(tmp_path) as created:
        yield created


def write_sink_files(sink: Path) -> None:
    import gzip

    (sink / NOVEMBER).write_text(
        "".join(
            json.dumps({"utcTime": f"2026-11-01T00:00:{i:02d}Z", "n": i}) + "\n" for i in range(50)
        )
    )
    (sink / OCTOBER_GZ).write_bytes(
        gzip.compress(b'{"utcTime": "2026-10-31T23:59:59Z", "n": -1}\n')
    )


def config_file(env: StorageEnv, engine: str, **backup: object) -> Path:
    """The pod's config: backup enabled, allowInit true (listing must still never init)."""
    return write_config(env.root / "config.yaml", env.config_data(engine=engine, **backup))


def dry_run_from_alpha0(path: Path, start: str, *extra: str) -> int:
    """`restore.py orders --from START --snapshot alpha.0 --dry-run` with this config."""
    args = ["orders", "--from", start, "--snapshot", "alpha.0", "--dry-run", "--config", str(path)]
    return restore_main([*args, *extra], stdin=io.StringIO(""))


def backed_up(env: StorageEnv, engine: str) -> tuple[Path, Config]:
    from kafka_connect_backup.config import load_config

    write_sink_files(env.sink)
    path = config_file(env, engine)
    config = load_config(path)
    backup_snapshot(config)
    return path, config


def assert_clean(env: StorageEnv) -> None:
    """Nothing mounted but the target, the mount point untouched, no private dir left."""
    assert fuse_mounts(env) == []
    assert not env.mount_point.exists() or not any(env.mount_point.iterdir())
    assert not list(env.work.glob("kcb-snapshots-*"))


@pytest.mark.parametrize("engine", ["encfs", "gocryptfs"])
def test_snapshots_list_mounts_the_encrypted_backup_privately(
    env: StorageEnv, engine: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path, _ = backed_up(env, engine)
    assert_clean(env)
    capsys.readouterr()

    assert kcb(["snapshots", "list", "--config", str(path)]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert lines[0].startswith(f"snapshots in {env.work}/kcb-snapshots-")
    assert lines[1].startswith("alpha.0 ")
    assert "  2 files  " in lines[1]
    assert lines[1].endswith("records 2026-10-31T23:59:59Z .. 2026-11-01T00:00:49Z")
    files = {line.split()[0].rsplit("/", 1)[-1]: line for line in lines[2:]}
    assert set(files) == {NOVEMBER, OCTOBER_GZ}
    size = (env.sink / NOVEMBER).stat().st_size
    assert files[NOVEMBER].endswith(
        f"{size / 1024:.1f} KiB  50 lines, 2026-11-01T00:00:00Z .. 2026-11-01T00:00:49Z"
    )
    assert files[OCTOBER_GZ].endswith("1 lines, 2026-10-31T23:59:59Z .. 2026-10-31T23:59:59Z")
    assert PASSWORD not in captured.out + captured.err
    assert_clean(env)

    assert kcb(["snapshots", "list", "--config", str(path), "--json", "--topic", "orders"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [(s["name"], len(s["files"])) for s in data] == [("alpha.0", 2)]
    assert_clean(env)


@pytest.mark.parametrize("engine", ["encfs", "gocryptfs"])
def test_restore_dry_run_reads_the_encrypted_snapshot(
    env: StorageEnv, engine: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path, _ = backed_up(env, engine)
    # The live files change after the backup: the restore must read the snapshot, not these.
    (env.sink / NOVEMBER).write_text('{"utcTime": "2026-11-30T00:00:00Z"}\n')
    summary = env.root / "summary.json"
    capsys.readouterr()

    code = dry_run_from_alpha0(path, "2026-11-01T00:00:10Z", "--summary-json", str(summary))
    captured = capsys.readouterr()
    assert code == 0, captured.err
    result = json.loads(summary.read_text())
    assert (result["read"], result["matched"], result["delivered"], result["failed"]) == (
        51,
        40,
        0,
        0,
    )
    assert result["would_send"] == 40
    assert [Path(f["path"]).name for f in result["files"]] == [OCTOBER_GZ, NOVEMBER]
    assert "/kcb-snapshots-" in result["files"][0]["path"]
    assert "/alpha.0/" in result["files"][0]["path"]
    assert "encrypted backup" in captured.err and "unmounted at the end" in captured.err
    assert_clean(env)


def test_a_supervisor_cycle_is_not_blocked_by_an_open_listing(env: StorageEnv) -> None:
    _, config = backed_up(env, "encfs")
    with snapshot_access(None, config) as access:
        assert fuse.is_mount_point(access.root)
        (env.sink / NOVEMBER).open("a").write('{"utcTime": "2026-11-02T00:00:00Z"}\n')
        result = backup_snapshot(config)  # mounts backup.mountPoint: must not be in use
        assert result.files == 2
        assert (access.root / "alpha.1").is_dir()
    assert_clean(env)
    # And the other way round: a cycle holding backup.mountPoint does not block a listing.
    with mounted_volume(config.backup, allow_init=False):
        assert kcb(["snapshots", "list", "--config", str(env.root / "config.yaml")]) == 0
        assert fuse.is_mount_point(env.mount_point)
    assert_clean(env)


@pytest.mark.parametrize("engine", ["encfs", "gocryptfs"])
def test_wrong_password_is_a_clear_error_and_nothing_stays_mounted(
    env: StorageEnv, engine: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path, _ = backed_up(env, engine)
    before = tree(env.target)
    env.password_file.write_text("not the password\n")
    capsys.readouterr()

    assert kcb(["snapshots", "list", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"kcb: cannot read snapshots: mounting the encrypted backup {env.target}" in err
    assert f"wrong password for the {engine} volume {env.target}" in err
    assert "(fix: put the volume's password in the password file" in err
    assert "not the password" not in err
    assert_clean(env)

    assert kcb(["snapshots", "verify", "--deep", "--config", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(
        f"kcb: error: cannot read snapshots: mounting the encrypted backup {env.target}"
    )
    assert f"wrong password for the {engine} volume" in captured.err
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err
    assert_clean(env)

    code = dry_run_from_alpha0(path, "2026-11-01")
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(
        f"restore.py: error: cannot read snapshots: mounting the encrypted backup {env.target}"
    )
    assert "wrong password" in err and "nothing was changed" in err
    assert tree(env.target) == before
    assert_clean(env)


def test_an_empty_target_is_never_initialised(
    env: StorageEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    path = config_file(env, "encfs")  # allowInit: true, as on a first install
    # No snapshot yet (exit 1, as documented), and no advice to set what is already set.
    assert kcb(["snapshots", "list", "--config", str(path)]) == 1
    err = capsys.readouterr().err
    assert err == (
        f"kcb: no snapshot yet: the backup target {env.target} is empty (no encrypted volume: no "
        "backup cycle has completed yet); the first backup cycle creates it (kcb backup-now "
        "takes one now)\n"
    )
    assert list(env.target.iterdir()) == []
    assert_clean(env)
    path = config_file(env, "encfs", allowInit=False)
    assert kcb(["snapshots", "list", "--config", str(path)]) == 1
    assert "set backup.allowInit=true so the first backup cycle creates it" in (
        capsys.readouterr().err
    )


def test_a_missing_target_names_the_fix(
    env: StorageEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    path = config_file(env, "encfs", targetDir=str(env.root / "absent"))
    code = dry_run_from_alpha0(path, "2026-11-01")
    err = capsys.readouterr().err
    assert code == 2
    assert f"backup target {env.root / 'absent'} does not exist or is not a directory" in err
    assert "(fix: mount the backup volume" in err
    assert_clean(env)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_termination_while_mounted_unmounts(env: StorageEnv, signum: int) -> None:
    """A dropped `kubectl exec` (SIGHUP) or a SIGTERM must not leave the private mount."""
    path, _ = backed_up(env, "encfs")
    script = (
        "import sys, time\n"
        "from kafka_connect_backup.config import load_config\n"
        "from kafka_connect_backup.restore.backup_mount import snapshot_access\n"
        "from pathlib import Path\n"
        "with snapshot_access(None, load_config(Path(sys.argv[1]))) as access:\n"
        "    print(access.root, flush=True)\n"
        "    time.sleep(120)\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        root = Path(child.stdout.readline().strip())
        assert fuse.is_mount_point(root)
        child.send_signal(signum)
        assert child.wait(timeout=30) == 128 + signum
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert not fuse.is_mount_point(root)
    assert_clean(env)


def test_a_private_mount_left_by_a_killed_read_is_removed_by_the_next(
    env: StorageEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    """SIGKILL (an OOM kill, `kill -9` of a `verify --deep`) cannot be caught: the decrypted
    view stays mounted. The next read removes it (its process is gone) and reads as usual; a
    mount of a read still running is left alone."""
    path, config = backed_up(env, "gocryptfs")
    script = (
        "import os, signal, sys\n"
        "from kafka_connect_backup.config import load_config\n"
        "from kafka_connect_backup.restore.backup_mount import snapshot_access\n"
        "from pathlib import Path\n"
        "with snapshot_access(None, load_config(Path(sys.argv[1]))) as access:\n"
        "    print(access.root, flush=True)\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    killed = subprocess.run(
        [sys.executable, "-c", script, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert killed.returncode == -signal.SIGKILL
    stale = Path(killed.stdout.strip())
    assert stale.parent == env.work and fuse.is_fuse_mounted(stale)
    capsys.readouterr()
    with snapshot_access(None, config) as running:
        live = running.root  # this process's own read: alive, kept
        assert not fuse.is_fuse_mounted(stale) and not stale.exists()
        logged = capsys.readouterr()
        assert "snapshots.stale_mount_removed" in logged.out + logged.err
        assert kcb(["snapshots", "verify", "--config", str(path)]) == 0
        assert fuse.is_fuse_mounted(live)
    assert_clean(env)


def test_sigterm_during_a_snapshot_restore_ends_with_the_count_and_unmounts(
    env: StorageEnv, kafka_broker, create_topic
) -> None:
    """restore.py's own SIGTERM handling (the true count, the summary, exit 130) holds while it
    reads from the privately mounted backup, and the mount is still undone on the way out."""
    write_sink(env.sink / NOVEMBER, 1_000_000)
    path = config_file(env, "gocryptfs")
    backup_snapshot(load_config(path))
    topic = create_topic(f"orders-restored-{uuid.uuid4().hex[:8]}", 1)
    summary_path = env.root / "summary.json"
    proc = subprocess.Popen(
        [
            sys.executable, str(RESTORE_SCRIPT), topic, "--bootstrap", kafka_broker.bootstrap,
            "--from", "2021-01-19T15:00", "--snapshot", "alpha.0", "--source-topic", "orders",
            "--config", str(path), "--yes", "--summary-json", str(summary_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )  # fmt: skip
    admin = kafka_broker.admin()

    wait_for_first_record(admin, topic, proc)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, out + err
    summary = json.loads(summary_path.read_text())
    written = end_offsets(admin, topic, 1)[0]
    assert summary["interrupted"] is True
    assert 0 < written < 1_000_000
    assert summary["delivered"] == written
    assert f"INTERRUPTED: {topic} holds the {written} delivered records" in out
    assert_clean(env)


def test_snapshots_export_reads_the_encrypted_backup_and_counts_like_a_dry_run(
    env: StorageEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    path, _ = backed_up(env, "gocryptfs")
    (env.sink / NOVEMBER).write_text('{"utcTime": "2026-11-30T00:00:00Z"}\n')  # not exported
    target = env.root / "orders.jsonl"
    capsys.readouterr()
    code = kcb(
        [
            "snapshots", "export", "--config", str(path), "--topic", "orders",
            "--from", "2026-10-31", "--to", "2026-11-01T00:00:10Z", "-o", str(target),
        ]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 0, err
    # The gzipped October record, then November's first ten, from the snapshot.
    expected = ['{"utcTime": "2026-10-31T23:59:59Z", "n": -1}'] + [
        json.dumps({"utcTime": f"2026-11-01T00:00:{i:02d}Z", "n": i}) for i in range(10)
    ]
    assert target.read_text().splitlines() == expected
    assert "kcb: exported 11 records of orders from alpha.0 (2 files, 51 read, 40 skipped" in err
    assert_clean(env)
    summary = env.root / "summary.json"
    assert dry_run_from_alpha0(path, "2026-10-31", "--to", "2026-11-01T00:00:10Z",
                               "--summary-json", str(summary)) == 0  # fmt: skip
    result = json.loads(summary.read_text())
    assert (result["read"], result["would_send"]) == (51, 11)


def ciphertext(env: StorageEnv) -> list[tuple[str, int, int]]:
    """(path, size, mtime ns) of everything in the backup target, its root included."""
    return sorted(
        (str(p.relative_to(env.target)), p.lstat().st_size, p.lstat().st_mtime_ns)
        for p in [env.target, *env.target.rglob("*")]
    )


def verify_args(path: Path, *extra: str) -> list[str]:
    return ["snapshots", "verify", "--config", str(path), *extra]


@pytest.mark.parametrize("engine", ["encfs", "gocryptfs"])
def test_snapshots_verify_passes_on_a_fresh_encrypted_backup_and_writes_nothing(
    env: StorageEnv, engine: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path, _ = backed_up(env, engine)
    sizes = sum(p.stat().st_size for p in env.sink.iterdir())
    listing, content = ciphertext(env), tree(env.target)
    capsys.readouterr()

    assert kcb(verify_args(path)) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"snapshots in {env.work}/kcb-snapshots-")
    assert out[0].endswith(
        f" (the encrypted backup {env.target}, mounted privately for this check):"
    )
    assert out[1:] == [
        f"alpha.0   complete    2 files  {human_bytes(sizes)}  ok",
        "verify: 1 snapshot, 2 files, 19 bytes read, 0 problems",  # gzip 10 + 8, a last byte
    ]
    assert_clean(env)

    assert kcb(verify_args(path, "--deep")) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1:] == [
        f"alpha.0   complete    2 files  {human_bytes(sizes)}  ok",
        (
            "    topic orders (connector orders-sink): 2 files, 51 lines; committed offsets: not "
            "possible: no offsets recorded with this snapshot"
        ),
        f"verify --deep: 1 snapshot, 2 files, {sizes} bytes read, 0 problems",
    ]
    assert_clean(env)

    assert kcb(verify_args(path, "--all", "--deep", "--json")) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["ok"], data["counts"]["problems"], data["snapshots"][0]["status"]) == (
        True,
        0,
        "complete",
    )
    assert (ciphertext(env), tree(env.target)) == (listing, content)
    assert_clean(env)


def test_snapshots_verify_deep_names_a_file_whose_gocryptfs_ciphertext_is_damaged(
    env: StorageEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    """One flipped byte in a middle 4 KiB block of a sink file's ciphertext (its mtime kept, as
    bit rot would): the quick checks read the first and last blocks only and pass; --deep reads
    every block and names the plaintext file with gocryptfs' I/O error."""
    write_sink_files(env.sink)
    (env.sink / NOVEMBER).write_text(
        "".join(json.dumps({"utcTime": f"2026-11-01T00:{i // 60 % 60:02d}:{i % 60:02d}Z",
                            "n": i}) + "\n" for i in range(2000))
    )  # fmt: skip
    path = config_file(env, "gocryptfs")
    backup_snapshot(load_config(path))
    skip = {"gocryptfs.conf", "gocryptfs.diriv"}
    damaged = max(
        (p for p in env.target.rglob("*") if p.is_file() and p.name not in skip),
        key=lambda p: p.stat().st_size,
    )
    blocks = (damaged.stat().st_size - 18) // (4096 + 32)  # header, then nonce + data + tag
    assert blocks >= 10
    before = damaged.stat()
    with damaged.open("r+b") as handle:  # inside block 5's data
        handle.seek(18 + 5 * (4096 + 32) + 16 + 100)
        byte = handle.read(1)
        handle.seek(-1, 1)
        handle.write(bytes([byte[0] ^ 0x01]))
    os.utime(damaged, ns=(before.st_atime_ns, before.st_mtime_ns))
    listing, content = ciphertext(env), tree(env.target)
    capsys.readouterr()

    assert kcb(verify_args(path)) == 0  # the marker still matches; first and last block read
    capsys.readouterr()
    assert_clean(env)

    assert kcb(verify_args(path, "--deep")) == 1
    out = capsys.readouterr().out.splitlines()
    where = f"alpha.0/localhost/{NOVEMBER}"
    assert out[1].startswith("alpha.0   complete    2 files  ")
    assert out[1].endswith("  1 problem")
    assert out[2:] == [
        f"    {where}: cannot read: Input/output error",
        (
            "    topic orders (connector orders-sink): 2 files, 1 line (1 file not read whole: not "
            "counted); committed offsets: not possible: no offsets recorded with this snapshot"
        ),
        (
            f"verify --deep: 1 snapshot, 2 files, {(env.sink / OCTOBER_GZ).stat().st_size} bytes "
            "read, 1 problem"
        ),
    ]
    assert kcb(verify_args(path, "--deep", "--json")) == 1
    problems = json.loads(capsys.readouterr().out)["snapshots"][0]["problems"]
    assert problems == [{"path": where, "what": "cannot read: Input/output error"}]
    assert (ciphertext(env), tree(env.target)) == (listing, content)
    assert_clean(env)
    # The last verify of the release's backup is kept for kcb status and the metrics.
    record = load_last_verification(load_config(path))
    assert record is not None
    assert (record.ok, record.deep, record.snapshots, record.problems) == (
        False, True, ["alpha.0"], 1
    )  # fmt: skip


def test_snapshots_export_onto_a_full_file_system_is_one_error_and_leaves_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "backup"
    base = root / "alpha.0" / "localhost"
    base.mkdir(parents=True)
    (base / "t-s-2026-01.sink").write_text(
        "".join(f'{{"utcTime":"2026-01-01T00:00:00Z","n":{i}}}\n' for i in range(20000))
    )
    full = tmp_path / "full"
    mount_tmpfs(full, "64k")
    try:
        code = kcb(
            ["snapshots", "export", "--snapshot-root", str(root), "--topic", "t",
             "--sink-name", "s", "--from", "2026-01-01", "-o", str(full / "out.jsonl")]
        )  # fmt: skip
        err = capsys.readouterr().err
        assert code == 1
        assert err.splitlines()[-1] == (
            f"kcb: error: cannot write {full}/out.jsonl: No space left on device; nothing was "
            f"left under {full}/out.jsonl (free space there, or write elsewhere with -o)"
        )
        assert list(full.iterdir()) == []  # neither the file nor its temporary file
    finally:
        subprocess.run(["umount", "-l", str(full)], check=False)
