"""The completeness marker and the rules built on it: a snapshot's status, rsync's temporary
names, and what happens to an incomplete alpha.0 before a rotation (states built the way
rsnapshot builds them: `cp -al`, then rsync's write-to-temp-and-rename into alpha.0)."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kafka_connect_backup.core.errors import KcbError
from kafka_connect_backup.layout.names import MARKER_NAME
from kafka_connect_backup.layout.sinkfiles import compressed_name, sink_file
from kafka_connect_backup.layout.snapshot_status import (
    NO_MARKER,
    State,
    Status,
    is_rsync_temp,
    judge,
    listing_digest,
    snapshot_status,
    taken_at,
    write_marker,
)
from kafka_connect_backup.supervisor.backup.interrupted import (
    discard_incomplete,
    fingerprints,
    newest_to_discard,
    settle_newest,
    strip_rsync_temps,
)
from kafka_connect_backup.supervisor.backup.snapshot import VerifyResult, _mark_complete
from kafka_connect_backup.tools.rsnapshot import BACKED_UP_PATTERNS

pytestmark = pytest.mark.unit

C, N, U = State.COMPLETE, State.INCOMPLETE, State.UNVERIFIED  # N: not complete


def _snapshot(root: Path, name: str, files: dict[str, bytes], *, marked: bool = True) -> Path:
    host = root / name / "localhost"
    host.mkdir(parents=True)
    for file, data in files.items():
        (host / file).write_bytes(data)
    if marked:
        write_marker(root / name, verified=True, files=len(files), bytes=0)
    return root / name


def _cp_al(root: Path) -> None:
    subprocess.run(["cp", "-al", str(root / "alpha.0"), str(root / "alpha.1")], check=True)


def _rsync_replaces(root: Path, name: str, data: bytes) -> None:
    """What rsync does to a changed file in alpha.0: a temp file, then a rename (new inode)."""
    temp = root / "alpha.0/localhost" / f".{name}.Xy12Za"
    temp.write_bytes(data)
    temp.rename(root / "alpha.0/localhost" / name)


# --- the status rule ---------------------------------------------------------------------


def _marker(verified: bool = True, digest: str = "abc", **extra: object) -> str:
    return json.dumps(
        {"format": 1, "verified": verified, "finished": "2026-12-01T10:00:00Z", **extra}
        | {"listing": {"entries": 1, "sha256": digest}}
    )


@pytest.mark.parametrize(
    ("marker", "digest", "expected"),
    [
        (None, "abc", Status(U, NO_MARKER)),
        (_marker(), "abc", Status(C, None, "2026-12-01T10:00:00Z")),
        (
            _marker(),
            "other",
            Status(
                N,
                "its content changed after the verification of 2026-12-01T10:00:00Z (a backup "
                "run was cut short while rsync was writing it)",
                "2026-12-01T10:00:00Z",
            ),
        ),
        (
            _marker(verified=False, problem="a.sink: missing"),
            "abc",
            Status(N, "its verification failed: a.sink: missing", "2026-12-01T10:00:00Z"),
        ),
        ("{not json", "abc", None),
        (json.dumps({"verified": True}), "abc", None),
        (json.dumps({"verified": "yes", "listing": {"sha256": "abc"}}), "abc", None),
    ],
)
def test_judge(marker: str | None, digest: str, expected: Status | None) -> None:
    status = judge(marker, digest)
    if expected is not None:
        assert status == expected
    else:
        assert status.state is N
        assert status.reason is not None
        assert status.reason.startswith("its completeness marker is unreadable (")


def test_describe_says_why() -> None:
    assert Status(C).describe() == "complete"
    assert Status(U, NO_MARKER).describe() == "unverified (no marker)"
    assert Status(N, "x").describe() == "incomplete: x"


def test_the_marker_follows_the_content_and_survives_rotation_by_hard_link(tmp_path: Path) -> None:
    root = tmp_path / "snapshots"
    _snapshot(root, "alpha.0", {"a-2026-11.sink": b"a1\n", "b.sink-1.gz": b"gz"})
    old = json.loads((root / "alpha.0" / MARKER_NAME).read_text())
    assert old["verified"] is True and old["listing"]["entries"] == 2
    assert old["listing"]["sha256"] == listing_digest(root / "alpha.0")[1]
    assert snapshot_status(root / "alpha.0").state is C

    _cp_al(root)  # rsnapshot's rotation: the marker is hard-linked into alpha.1
    _rsync_replaces(root, "a-2026-11.sink", b"a1\na2\n")
    # Cut short here: alpha.0 still holds the old marker, which no longer matches.
    assert snapshot_status(root / "alpha.0").state is N
    assert snapshot_status(root / "alpha.1").state is C

    write_marker(root / "alpha.0", verified=True, files=2, bytes=9)
    new, kept = root / "alpha.0" / MARKER_NAME, root / "alpha.1" / MARKER_NAME
    assert new.stat().st_ino != kept.stat().st_ino  # atomic replace: a new inode
    assert json.loads(kept.read_text()) == old  # alpha.1's link keeps the old marker
    assert json.loads(new.read_text())["bytes"] == 9
    assert [snapshot_status(root / n).state for n in ("alpha.0", "alpha.1")] == [C, C]
    assert not [p for p in (root / "alpha.0").iterdir() if p.name.endswith(".tmp")]


def test_an_unreadable_marker_and_a_set_aside_directory_are_incomplete(tmp_path: Path) -> None:
    snap = _snapshot(tmp_path, "alpha.0", {"a.sink": b"a\n"}, marked=False)
    (snap / MARKER_NAME).write_bytes(b"\xff\xfe")
    status = snapshot_status(snap)
    assert status.state is N and "unreadable" in (status.reason or "")

    aside = _snapshot(tmp_path, "_incomplete.alpha.0.1790000000", {"a.sink": b"a\n"})
    status = snapshot_status(aside)
    assert (status.state, status.quarantined) == (N, True)
    assert status.reason == (
        "set aside by the interrupted-run cleanup at 2026-09-21T14:13:20Z (it was alpha.0, and "
        "its content matched no snapshot from before the cut-short run); check it, then "
        "delete it"
    )


# --- rsync's temporary names -------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "temp"),
    [
        (".orders-file-sink-2026-11.sink.wgjaRK", True),  # what a killed rsync left
        (".orders-file-sink-2026-10.sink-1790000000.gz.A1b2C3", True),
        (".x.sink.abcdef", True),  # rsync drops the name's own leading dot
        ("." + "t" * 246 + ".Zz09Aa", True),  # a long name rsync cut to 246 characters
        ("orders-file-sink-2026-11.sink", False),
        (".orders-file-sink-2026-11.sink", False),
        (".a.b.sink", False),
        (".notes.txt.abcdef", False),  # not a temp of a backed-up file
        (".orders-file-sink-2026-11.sink.kcb-tmp", False),  # the compressor's temp
        (".orders-file-sink-2026-11.sink.abc", False),
    ],
)
def test_rsync_temp_names(name: str, temp: bool) -> None:
    assert is_rsync_temp(name) is temp


_TOPIC = st.text("abcXYZ019._-", min_size=1, max_size=60).filter(lambda t: t not in (".", ".."))


@given(
    topic=_TOPIC,
    sink=st.text("abcXYZ019._-", min_size=1, max_size=30),
    period=st.sampled_from(["2026-11", "2026-11-30"]),
    epoch=st.integers(0, 10**12),
)
def test_no_sink_file_name_is_ever_taken_for_an_rsync_temp(
    topic: str, sink: str, period: str, epoch: int
) -> None:
    path = sink_file(Path("/d"), topic, sink, period)
    for name in (path.name, compressed_name(path, epoch).name):
        assert not is_rsync_temp(name)
        temp = f".{name.removeprefix('.')[:246]}.q1W2e3"
        assert is_rsync_temp(temp)
        # ... and rsnapshot's include rules never send one: `exclude *` already covers them,
        # so no extra rsync filter is needed (a temp reaches alpha.1 only through cp -al).
        assert not any(fnmatchcase(temp, pattern) for pattern in BACKED_UP_PATTERNS)


# --- before a rotation -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("states", "discard"),
    [
        ([], 0),
        ([C], 0),
        ([N], 0),  # the only copy
        ([N, C], 1),
        ([N, U], 0),  # an older version's snapshot proves nothing: keep
        ([N, N, C], 2),
        ([N, U, C], 1),
        ([U, C], 0),
        ([C, N], 0),  # only alpha.0 is judged
    ],
)
def test_newest_to_discard(states: list[State], discard: int) -> None:
    assert newest_to_discard(states) == discard


def _two_then_cut_short(tmp_path: Path) -> Path:
    root = tmp_path / "snapshots"
    _snapshot(root, "alpha.0", {"a-2026-11.sink": b"a1\n"})
    _cp_al(root)
    temp = root / "alpha.0/localhost/.b-2026-11.sink.wgjaRK"
    temp.write_bytes(b"half of b")  # a killed rsync's temp file
    _rsync_replaces(root, "a-2026-11.sink", b"a1\na2\n")
    return root


def test_an_incomplete_alpha0_is_discarded_when_a_complete_snapshot_exists(tmp_path: Path) -> None:
    root = _two_then_cut_short(tmp_path)
    assert strip_rsync_temps(root) == {"alpha.0": [".b-2026-11.sink.wgjaRK"]}
    done = settle_newest(root, "alpha")
    assert done.removed == {
        "alpha.0": "incomplete: its content changed after the verification of "
        f"{snapshot_status(root / 'alpha.0').finished} (a backup run was cut short while "
        "rsync was writing it)"
    }
    assert (done.renamed, done.kept) == ({"alpha.1": "alpha.0"}, ["alpha.0"])
    assert sorted(p.name for p in root.iterdir()) == ["alpha.0"]
    assert (root / "alpha.0/localhost/a-2026-11.sink").read_bytes() == b"a1\n"
    assert snapshot_status(root / "alpha.0").state is C
    assert settle_newest(root, "alpha").removed == {}  # idempotent


def test_the_only_copy_is_kept_incomplete_without_rsync_temps(tmp_path: Path) -> None:
    root = _two_then_cut_short(tmp_path)
    for path in sorted((root / "alpha.1").rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()
    (root / "alpha.1").rmdir()
    strip_rsync_temps(root)
    done = settle_newest(root, "alpha")
    assert (done.removed, done.renamed) == ({}, {})
    assert sorted(p.name for p in (root / "alpha.0/localhost").iterdir()) == ["a-2026-11.sink"]
    assert snapshot_status(root / "alpha.0").state is N


def test_unverified_snapshots_are_never_discarded_but_lose_rsync_temps(tmp_path: Path) -> None:
    root = tmp_path / "snapshots"
    _snapshot(
        root, "alpha.0", {"a-2026-11.sink": b"a\n", ".a-2026-11.sink.Qw3rTy": b"a"}, marked=False
    )
    _snapshot(root, "alpha.1", {"a-2026-11.sink": b"old\n"})
    assert strip_rsync_temps(root) == {"alpha.0": [".a-2026-11.sink.Qw3rTy"]}
    done = settle_newest(root, "alpha")
    assert (done.removed, done.renamed) == ({}, {})
    assert sorted(p.name for p in (root / "alpha.0/localhost").iterdir()) == ["a-2026-11.sink"]
    assert snapshot_status(root / "alpha.0") == Status(U, NO_MARKER)


def test_settle_newest_looks_past_unverified_snapshots_for_a_complete_one(tmp_path: Path) -> None:
    root = _two_then_cut_short(tmp_path)  # alpha.0 incomplete, alpha.1 complete
    (root / "alpha.1").rename(root / "alpha.2")
    _snapshot(root, "alpha.1", {"a-2026-11.sink": b"a0\n"}, marked=False)
    strip_rsync_temps(root)
    done = settle_newest(root, "alpha")
    assert list(done.removed) == ["alpha.0"]
    assert done.renamed == {"alpha.1": "alpha.0", "alpha.2": "alpha.1"}
    assert done.newest is U


def test_strip_rsync_temps_outside_every_level_0_only_when_asked(tmp_path: Path) -> None:
    root = tmp_path / "snapshots"
    for name in ("alpha.0", "alpha.1", "hourly.0", "hourly.1"):
        _snapshot(root, name, {"a-2026-11.sink": b"a\n", ".a-2026-11.sink.Qw3rTy": b"a"})
    assert list(strip_rsync_temps(root, everywhere=False)) == ["alpha.0", "hourly.0"]
    assert list(strip_rsync_temps(root)) == ["alpha.1", "hourly.1"]


def test_a_failed_verification_marker_is_incomplete_and_discarded(tmp_path: Path) -> None:
    root = tmp_path / "snapshots"
    _snapshot(root, "alpha.0", {"a-2026-11.sink": b"a1\n"})
    _cp_al(root)
    _rsync_replaces(root, "a-2026-11.sink", b"a1\na2\n")
    write_marker(root / "alpha.0", verified=False, problem="a-2026-11.sink: 6 bytes, source 9")
    assert snapshot_status(root / "alpha.0").reason == (
        "its verification failed: a-2026-11.sink: 6 bytes, source 9"
    )
    assert list(settle_newest(root, "alpha").removed) == ["alpha.0"]
    assert (root / "alpha.0/localhost/a-2026-11.sink").read_bytes() == b"a1\n"


def test_a_kill_after_the_marker_keeps_the_marked_snapshot(tmp_path: Path) -> None:
    """Killed between writing alpha.0's marker and clearing the run marker: the run's
    fingerprints say alpha.0 changed, its marker says it is complete; it is kept."""
    root = tmp_path / "snapshots"
    _snapshot(root, "alpha.0", {"a-2026-11.sink": b"a1\n"})
    before = fingerprints(root)
    _cp_al(root)
    _rsync_replaces(root, "a-2026-11.sink", b"a1\na2\n")
    write_marker(root / "alpha.0", verified=True, files=1, bytes=6)
    done = discard_incomplete(root, before, {"alpha": 3})
    assert (done.removed, done.quarantined, done.kept) == ({}, {}, ["alpha.0", "alpha.1"])
    assert (root / "alpha.0/localhost/a-2026-11.sink").read_bytes() == b"a1\na2\n"
    assert [snapshot_status(root / n).state for n in ("alpha.0", "alpha.1")] == [C, C]


def test_the_listing_digest_ignores_links_and_the_top_level(tmp_path: Path) -> None:
    snap = _snapshot(tmp_path, "alpha.0", {"a.sink": b"a\n"})
    digest = listing_digest(snap)
    os.link(snap / "localhost/a.sink", tmp_path / "another-link")  # link count changes
    (snap / "stray-top-level-file").write_text("x")
    assert listing_digest(snap) == digest == (1, digest[1])


def test_cut_short_before_rsync_renamed_anything_is_complete_once_its_temp_is_gone(
    tmp_path: Path,
) -> None:
    root = tmp_path / "snapshots"
    _snapshot(root, "alpha.0", {"a-2026-11.sink": b"a1\n"})
    _cp_al(root)
    (root / "alpha.0/localhost/.b-2026-11.sink.wgjaRK").write_bytes(b"half of b")
    assert snapshot_status(root / "alpha.0").state is N
    strip_rsync_temps(root)
    assert snapshot_status(root / "alpha.0").state is C
    assert settle_newest(root, "alpha").removed == {}


def test_a_marker_that_cannot_be_written_fails_the_step(tmp_path: Path) -> None:
    with pytest.raises(KcbError) as caught:
        _mark_complete(tmp_path / "gone" / "alpha.0", VerifyResult(1, 2))
    assert caught.value.cause == "snapshot_incomplete"
    assert caught.value.message.startswith(
        f"snapshot {tmp_path / 'gone' / 'alpha.0'} was verified but its completeness marker "
        "could not be written: "
    )
    assert "the next cycle discards this snapshot" in caught.value.fix


def test_taken_at_is_the_markers_finished_time_else_the_directory_mtime(tmp_path: Path) -> None:
    marked, unmarked, damaged = (tmp_path / n for n in ("daily.0", "alpha.3", "hourly.1"))
    for snapshot in (marked, unmarked, damaged):
        (snapshot / "localhost").mkdir(parents=True)
    (marked / ".kcb-snapshot.json").write_text('{"finished": "2026-12-01T10:00:00Z"}')
    (damaged / ".kcb-snapshot.json").write_text('{"finished": "yesterday"}')
    for snapshot in (marked, unmarked, damaged):
        os.utime(snapshot, (1_700_000_000, 1_700_000_000))
    assert taken_at(marked) == datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    assert taken_at(unmarked) == taken_at(damaged) == datetime.fromtimestamp(1_700_000_000, UTC)
