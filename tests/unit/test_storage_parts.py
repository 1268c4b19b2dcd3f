"""Pure parts of the storage half: rsnapshot.conf rendering, error mapping, mountinfo parsing,
snapshot names, retention pruning, verification and the gzip checks."""

from __future__ import annotations

import gzip
import os
import stat
import zlib
from pathlib import Path

import pytest

from kafka_connect_backup.config import Engine
from kafka_connect_backup.core.errors import KcbError
from kafka_connect_backup.layout.snapshot_dirs import fingerprint, parse_snapshot_name
from kafka_connect_backup.supervisor import compress
from kafka_connect_backup.supervisor.backup import retention, snapshot
from kafka_connect_backup.tools import fuse, rsnapshot, volume

pytestmark = pytest.mark.unit


def test_rsnapshot_conf_matches_the_original_rules_with_tabs() -> None:
    text = rsnapshot.render_config(
        snapshot_root=Path("/mnt/backup"),
        source_dir=Path("/data/filesink/"),
        levels={"alpha": 7},
        lockfile=Path("/tmp/kcb/rsnapshot.pid"),
    )
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    fields = {tuple(line.split("\t")) for line in lines}
    for expected in [
        ("config_version", "1.2"),
        ("snapshot_root", "/mnt/backup/"),
        ("no_create_root", "1"),
        ("sync_first", "1"),  # supervisor/backup/sync_copy.py fills .sync before `rsnapshot sync`
        ("retain", "alpha", "7"),
        ("lockfile", "/tmp/kcb/rsnapshot.pid"),
        ("rsync_long_args", "--delete --no-owner --no-group --no-links --delete-excluded"),
        ("include", "*.sink"),
        ("include", "*.gz"),
        ("exclude", "*"),
        ("backup", "/data/filesink/", "localhost/"),
    ]:
        assert expected in fields
    # Order matters to rsync: both includes before the catch-all exclude.
    assert lines.index("include\t*.sink") < lines.index("include\t*.gz") < lines.index("exclude\t*")
    assert all("  " not in line and "\t" in line for line in lines)
    assert text.endswith("\n")


LOCKED = (
    """ERROR: Lockfile /tmp/kcb/rsnapshot.pid exists and so does its process, can not continue"""
)
FULL = """rsync: [receiver] write failed on "/mnt/backup/alpha.0/localhost/a.sink": No space left \
on device (28)
rsync error: error in file IO (code 11) at receiver.c(657) [receiver=3.5.0]
ERROR: /usr/bin/rsync returned 11 while processing /data/filesink/"""


@pytest.mark.parametrize(
    ("output", "cause"),
    [
        (LOCKED, "rsnapshot_locked"),
        (FULL, "disk_full"),
        ("ERROR: /data/filesink/ - Source directory does not exist.", "rsnapshot_failed"),
    ],
)
def test_rsnapshot_failures_map_to_causes(output: str, cause: str) -> None:
    error = rsnapshot._failure(
        Path("/tmp/kcb/rsnapshot.conf"), rsnapshot.SYNC, Path("/tmp/kcb/x.pid"), 1, output
    )
    assert error.cause == cause
    assert error.fix


def test_mountinfo_parsing_unescapes_paths() -> None:
    text = (
        "36 35 98:0 /mnt1 /mnt/with\\040space rw,noatime master:1 - ext3 /dev/root rw\n"
        "43 27 0:39 / /tmp/exp/m rw,nosuid - fuse.encfs encfs rw,user_id=0\n"
        "garbage line\n"
    )
    mounts = fuse.parse_mountinfo(text)
    assert mounts == [
        fuse.Mount(Path("/mnt/with space"), "ext3", "/dev/root"),
        fuse.Mount(Path("/tmp/exp/m"), "fuse.encfs", "encfs"),
    ]


def test_root_is_a_mount_point_and_a_fresh_dir_is_not(tmp_path: Path) -> None:
    assert fuse.is_mount_point(Path("/"))
    assert not fuse.is_mount_point(tmp_path)
    fuse.unmount(tmp_path)  # not mounted: a no-op


@pytest.mark.parametrize(
    ("name", "parsed"),
    [
        ("alpha.0", ("alpha", 0)),
        ("alpha.12", ("alpha", 12)),
        ("hourly.23", ("hourly", 23)),
        ("daily.0", ("daily", 0)),
        ("weekly.3", ("weekly", 3)),
        ("monthly.11", ("monthly", 11)),
        ("alpha.01", None),
        ("alpha.", None),
        ("beta.1", None),
        ("yearly.1", None),
        ("Daily.1", None),
        ("alpha.1.tmp", None),
        ("_delete.123", None),
    ],
)
def test_snapshot_names(name: str, parsed: tuple[str, int] | None) -> None:
    assert parse_snapshot_name(name) == parsed


def test_prune_removes_only_numeric_alpha_dirs_beyond_retention(tmp_path: Path) -> None:
    for name in ["alpha.0", "alpha.1", "alpha.2", "alpha.10", "alpha.x", "alpha.03", "keep"]:
        (tmp_path / name / "localhost").mkdir(parents=True)
    (tmp_path / "alpha.7").write_text("a file, not a snapshot")
    removed = retention.prune(tmp_path, {"alpha": 2})
    assert [p.name for p in removed] == ["alpha.2", "alpha.10"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["alpha.0", "alpha.1", "alpha.x", "alpha.03", "keep", "alpha.7"]
    )
    assert retention.prune(tmp_path / "missing", {"alpha": 2}) == []
    with pytest.raises(ValueError, match="retention must be at least 1, got 0"):
        retention.prune(tmp_path, {"alpha": 0})


def test_password_file_is_read_without_newline_and_checked(tmp_path: Path) -> None:
    path = tmp_path / "password"
    path.write_text("s3cret\n")
    assert volume.read_password(path) == "s3cret"
    for content in ["", "\n", "two\nlines\n"]:
        path.write_text(content)
        with pytest.raises(KcbError) as caught:
            volume.read_password(path)
        assert caught.value.cause == "password_file_unreadable"
        assert str(path) in str(caught.value)
    path.write_bytes(b"\xff\xfe\n")
    with pytest.raises(KcbError, match="not UTF-8"):
        volume.read_password(path)


def test_engine_detection(tmp_path: Path) -> None:
    assert volume.detect_engine(tmp_path) is None
    (tmp_path / "gocryptfs.conf").write_text("{}")
    assert volume.detect_engine(tmp_path) is Engine.GOCRYPTFS
    (tmp_path / ".encfs6.xml").write_text("<x/>")
    with pytest.raises(KcbError, match="both"):
        volume.detect_engine(tmp_path)


def _pair(tmp_path: Path) -> tuple[Path, Path]:
    source, copy = tmp_path / "src", tmp_path / "alpha.0" / "localhost"
    source.mkdir()
    copy.mkdir(parents=True)
    for name, data in [("a-2026-11.sink", b"x" * 200_000), ("b.sink-1.gz", b"gz"), ("c.txt", b"")]:
        (source / name).write_bytes(data)
        if not name.endswith(".txt"):
            (copy / name).write_bytes(data)
            stat = (source / name).stat()
            os.utime(copy / name, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    return source, copy


def test_verify_accepts_an_identical_copy(tmp_path: Path) -> None:
    source, copy = _pair(tmp_path)
    assert [p.name for p in rsnapshot.backed_up_files(source)] == ["a-2026-11.sink", "b.sink-1.gz"]
    result = snapshot.verify_copy(source, copy)
    assert (result.files, result.bytes, result.extra) == (2, 200_002, [])


@pytest.mark.parametrize("damage", ["missing", "truncated", "changed_tail", "mtime"])
def test_verify_rejects_an_incomplete_copy(tmp_path: Path, damage: str) -> None:
    source, copy = _pair(tmp_path)
    victim = copy / "a-2026-11.sink"
    stat = victim.stat()
    if damage == "missing":
        victim.unlink()
    elif damage == "truncated":
        victim.write_bytes(b"x" * 100)
    elif damage == "changed_tail":
        victim.write_bytes(b"x" * 199_999 + b"y")
    else:
        os.utime(victim, (stat.st_atime, stat.st_mtime - 60))
    if damage in ("truncated", "changed_tail"):
        os.utime(victim, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    with pytest.raises(KcbError) as caught:
        snapshot.verify_copy(source, copy)
    assert caught.value.cause == "snapshot_incomplete"
    assert "a-2026-11.sink" in str(caught.value)


def test_verify_reads_only_the_copies_written_since_the_verified_snapshot(tmp_path: Path) -> None:
    """A copy that is the very file (hard link) of a complete snapshot was read when that one
    was verified: only its size and time are checked. A rewritten copy is read again."""
    source, copy = _pair(tmp_path)
    verified = tmp_path / "hourly.0" / "localhost"
    verified.mkdir(parents=True)
    (verified / "a-2026-11.sink").hardlink_to(copy / "a-2026-11.sink")
    stat = (source / "a-2026-11.sink").stat()
    # The same size and second, other bytes: only reading finds that.
    (source / "a-2026-11.sink").write_bytes(b"y" * 200_000)
    os.utime(source / "a-2026-11.sink", ns=(stat.st_atime_ns, stat.st_mtime_ns))
    result = snapshot.verify_copy(source, copy, verified)
    assert (result.files, result.bytes) == (2, 200_002)
    with pytest.raises(KcbError, match=r"a-2026-11\.sink: content differs from the source"):
        snapshot.verify_copy(source, copy)
    rewritten = copy / "a-2026-11.sink.new"
    rewritten.write_bytes(b"x" * 200_000)  # sync_copy's temp file, renamed over the copy
    os.utime(rewritten, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    rewritten.replace(copy / "a-2026-11.sink")
    with pytest.raises(KcbError, match=r"a-2026-11\.sink: content differs from the source"):
        snapshot.verify_copy(source, copy, verified)


def test_gzip_digest_checks_the_whole_stream(tmp_path: Path) -> None:
    data = os.urandom(10_000) * 20
    good = tmp_path / "good.gz"
    good.write_bytes(gzip.compress(data, 6))
    assert compress.gzip_digest(good) == compress.file_digest(_write(tmp_path / "raw", data))
    truncated = tmp_path / "truncated.gz"
    truncated.write_bytes(good.read_bytes()[:-20])
    with pytest.raises(EOFError):
        compress.gzip_digest(truncated)
    trailing = tmp_path / "trailing.gz"
    trailing.write_bytes(good.read_bytes() + b"junk")
    with pytest.raises(zlib.error):
        compress.gzip_digest(trailing)


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_temp_names_never_look_like_backed_up_files() -> None:
    temp = compress.temp_name(Path("/d/t-s-2026-10.sink-1790000000.gz"))
    assert temp == Path("/d/.t-s-2026-10.sink-1790000000.gz.kcb-tmp")
    assert not temp.name.endswith((".sink", ".gz"))


@pytest.mark.parametrize("threads", [1, 3])
def test_block_parallel_gzip_is_one_valid_member_at_every_boundary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, threads: int
) -> None:
    block = 64 * 1024
    monkeypatch.setattr(compress, "BLOCK_SIZE", block)
    text = b"".join(
        b'{"utcTime": "2026-10-01T00:00:%02dZ", "id": %d}\n' % (i % 60, i) for i in range(20_000)
    )
    for size in [0, 1, block - 1, block, block + 1, 3 * block + 5, len(text)]:
        source = tmp_path / f"t-s-2026-10.sink.{size}"
        source.write_bytes(text[:size])
        temp = tmp_path / f"out.{size}.gz"
        digest, written, _ = compress._write_gzip(source, temp, 6, threads)
        data = temp.read_bytes()
        assert written == len(data)
        assert gzip.decompress(data) == text[:size]
        assert compress.gzip_digest(temp) == digest
        # Priming each block with its predecessor's window keeps the ratio of one stream.
        assert len(data) <= len(gzip.compress(text[:size], 6)) * 1.02 + 64


def _rglob_fingerprint(directory: Path) -> frozenset[tuple[str, int, int]]:
    """The reference: what fingerprint computed with Path.rglob before it walked with scandir."""
    found = []
    for path in directory.rglob("*"):
        st = path.lstat()
        if not stat.S_ISDIR(st.st_mode):
            found.append((str(path.relative_to(directory)), st.st_size, st.st_mtime_ns))
    return frozenset(found)


def test_fingerprint_is_every_non_directory_entry_as_rglob_lists_it(tmp_path: Path) -> None:
    snapshot = tmp_path / "hourly.0"
    (snapshot / "localhost" / "nested" / "deeper").mkdir(parents=True)
    (snapshot / "empty").mkdir()
    (snapshot / ".kcb-snapshot.json").write_text("{}")
    (snapshot / "localhost" / "orders-sink-2026-12-07T15.sink").write_text("a\nb\n")
    (snapshot / "localhost" / ".orders-sink-2026-12.sink.AbC123").write_text("partial")
    (snapshot / "localhost" / "nested" / "deeper" / "x").write_bytes(b"\0" * 5000)
    (snapshot / "localhost" / "link-to-file").symlink_to("orders-sink-2026-12-07T15.sink")
    (snapshot / "localhost" / "link-to-dir").symlink_to("nested")  # an entry, not followed
    got = fingerprint(snapshot)
    assert got == _rglob_fingerprint(snapshot)
    assert {name for name, _, _ in got} == {
        ".kcb-snapshot.json",
        "localhost/orders-sink-2026-12-07T15.sink",
        "localhost/.orders-sink-2026-12.sink.AbC123",
        "localhost/nested/deeper/x",
        "localhost/link-to-file",
        "localhost/link-to-dir",
    }
    assert fingerprint(tmp_path / "missing") == frozenset()
