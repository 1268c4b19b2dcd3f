"""`kcb snapshots verify` on plain trees (--snapshot-root): every check, the report, --json,
the exit codes, the offsets hook."""

from __future__ import annotations

import errno
import gzip
import json
import os
from pathlib import Path

import pytest

from kafka_connect_backup.cli import main as kcb
from kafka_connect_backup.core.units import human_bytes
from kafka_connect_backup.inspect import verify as verify_module
from kafka_connect_backup.inspect.verify import NO_OFFSETS, snapshots_to_verify
from kafka_connect_backup.layout.names import MARKER_NAME
from kafka_connect_backup.layout.snapshot_status import NO_MARKER, write_marker
from kafka_connect_backup.restore.sources import SourceFile, inspect

pytestmark = pytest.mark.unit

SINK = "localhost/data/filesink"
PLAIN = "orders-sink-2026-11.sink"
GZ = "orders-sink-2026-10.sink-1790000000.gz"
OTHER = "payments-sink-2026-11.sink"
PLAIN_DATA = b"".join(b'{"utcTime":"2026-11-01T00:00:%02dZ","n":%d}\n' % (i, i) for i in range(40))
GZ_DATA = b"".join(b'{"utcTime":"2026-10-31T23:59:%02dZ","n":%d}\n' % (i, i) for i in range(60))


def gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)  # byte-for-byte the same on every run


def make_snapshot(root: Path, name: str = "alpha.0", *, marker: bool = True) -> Path:
    """A good snapshot: two files of orders (one gzipped), one of payments, and its marker."""
    snapshot = root / name
    sink = snapshot / SINK
    sink.mkdir(parents=True)
    (sink / PLAIN).write_bytes(PLAIN_DATA)
    (sink / GZ).write_bytes(gz(GZ_DATA))
    (sink / OTHER).write_bytes(b'{"n":1}\n{"n":2}\n')
    if marker:
        write_marker(snapshot, verified=True)
    return snapshot


def run(capsys: pytest.CaptureFixture[str], root: Path, *args: str) -> tuple[int, list[str], str]:
    code = kcb(["snapshots", "verify", "--snapshot-root", str(root), *args])
    captured = capsys.readouterr()
    return code, captured.out.splitlines(), captured.err


def sizes(snapshot: Path) -> int:
    return sum(p.stat().st_size for p in (snapshot / SINK).iterdir())


def test_a_good_snapshot_passes_and_deep_counts_lines_per_topic(tmp_path, capsys):
    root = tmp_path / "backup"
    snapshot = make_snapshot(root)
    total = sizes(snapshot)

    code, out, err = run(capsys, root)
    assert (code, err) == (0, "")
    assert out == [
        f"snapshots in {root}:",
        f"alpha.0   complete    3 files  {human_bytes(total)}  ok",
        "verify: 1 snapshot, 3 files, 20 bytes read, 0 problems",  # gzip 10 + 8, two last bytes
    ]

    code, out, err = run(capsys, root, "--deep", "--sink-name", "sink")
    assert (code, err) == (0, "")
    assert out == [
        f"snapshots in {root}:",
        f"alpha.0   complete    3 files  {human_bytes(total)}  ok",
        (
            f"    topic orders (connector orders-sink): 2 files, 100 lines; committed offsets: "
            f"{NO_OFFSETS}"
        ),
        (
            f"    topic payments (connector payments-sink): 1 file, 2 lines; committed offsets: "
            f"{NO_OFFSETS}"
        ),
        f"verify --deep: 1 snapshot, 3 files, {total} bytes read, 0 problems",
    ]
    # Without a sink name the connector is all it can name.
    code, out, _ = run(capsys, root, "alpha.0", "--deep")
    assert out[2] == (
        f"    connector orders-sink: 2 files, 100 lines; committed offsets: {NO_OFFSETS}"
    )


def test_verify_writes_nothing_to_the_snapshot_tree(tmp_path, capsys):
    root = tmp_path / "backup"
    make_snapshot(root)
    (root / "alpha.0" / SINK / "stray.txt").write_text("x")

    def listing() -> list[tuple[str, int, int]]:
        return sorted(
            (str(p.relative_to(root)), p.lstat().st_size, p.lstat().st_mtime_ns)
            for p in [root, *root.rglob("*")]
        )

    before = listing()
    assert run(capsys, root, "--all", "--deep")[0] == 1
    assert run(capsys, root, "--json")[0] == 1
    assert listing() == before


def test_a_truncated_gz_is_caught_by_its_trailer_and_by_deep(tmp_path, capsys):
    root = tmp_path / "backup"
    snapshot = make_snapshot(root, marker=False)
    path = snapshot / SINK / GZ
    cut = gz(GZ_DATA)[:-5]  # the last bytes of the trailer are gone
    path.write_bytes(cut)
    write_marker(snapshot, verified=True)  # so the file's own check is all that fails
    where = f"alpha.0/{SINK}/{GZ}"
    payload = len(cut) - 18
    isize = int.from_bytes(cut[-4:], "little")
    assert isize > 1032 * (payload + 1)  # what the check relies on, for this file

    code, out, _ = run(capsys, root)
    assert code == 1
    assert out[1].startswith("alpha.0   complete    3 files  ")
    assert out[1].endswith("  1 problem")
    assert out[2] == (
        f"    {where}: gzip trailer: it records {isize} uncompressed bytes, more than its "
        f"{payload} compressed bytes can hold: the file is cut short or damaged"
    )
    assert out[3] == "verify: 1 snapshot, 3 files, 20 bytes read, 1 problem"

    code, out, _ = run(capsys, root, "--deep")
    assert code == 1
    assert out[2] == (
        f"    {where}: cannot read: Compressed file ended before the end-of-stream marker was "
        "reached"
    )
    assert out[3] == (
        "    connector orders-sink: 2 files, 40 lines (1 file not read whole: not counted); "
        f"committed offsets: {NO_OFFSETS}"
    )


def test_a_damaged_gz_and_a_bad_crc_are_caught_by_deep_only(tmp_path, capsys):
    root = tmp_path / "backup"
    snapshot = make_snapshot(root, marker=False)
    data = bytearray(gz(GZ_DATA))
    data[-8] ^= 0x01  # the CRC-32: header and length look fine
    (snapshot / SINK / GZ).write_bytes(data)
    write_marker(snapshot, verified=True)
    assert run(capsys, root)[0] == 0
    code, out, _ = run(capsys, root, "--deep")
    assert code == 1
    stored = int.from_bytes(data[-8:-4], "little")
    assert out[2].startswith(
        f"    alpha.0/{SINK}/{GZ}: cannot read: CRC check failed 0x{stored:x} != 0x"
    )


def test_gzip_header_size_and_kind_problems(tmp_path, capsys):
    root = tmp_path / "backup"
    snapshot = make_snapshot(root, marker=False)
    sink = snapshot / SINK
    header = bytearray(gz(GZ_DATA))
    header[2], header[3] = 7, 0x20
    (sink / GZ).write_bytes(header)
    (sink / "orders-sink-2026-09.sink-1780000000.gz").write_bytes(b"\x1f\x8b\x08")
    (sink / "orders-sink-2026-08.sink-1770000000.gz").write_bytes(PLAIN_DATA)
    (sink / "orders-sink-2026-07.sink").write_bytes(gz(b"x\n"))
    (sink / "orders-sink-2026-06.sink").write_bytes(b"")  # an empty sink file is fine
    write_marker(snapshot, verified=True)
    code, out, _ = run(capsys, root)
    assert code == 1
    assert out[2:-1] == [
        (
            f"    alpha.0/{SINK}/orders-sink-2026-07.sink: named as a plain sink file but holds "
            "gzip data"
        ),
        (
            f"    alpha.0/{SINK}/orders-sink-2026-08.sink-1770000000.gz: named as a .gz sink file "
            "but holds no gzip data"
        ),
        (
            f"    alpha.0/{SINK}/orders-sink-2026-09.sink-1780000000.gz: 3 bytes: too short for a "
            "gzip file (20 at least)"
        ),
        f"    alpha.0/{SINK}/{GZ}: gzip header: compression method 7, not deflate (8)",
        f"    alpha.0/{SINK}/{GZ}: gzip header: reserved flag bits set (flags 0x20)",
    ]
    assert out[-1] == "verify: 1 snapshot, 7 files, 20 bytes read, 5 problems"


def test_a_torn_last_line(tmp_path, capsys):
    root = tmp_path / "backup"
    snapshot = make_snapshot(root, marker=False)
    with (snapshot / SINK / PLAIN).open("ab") as handle:
        handle.write(b'{"utcTime":"2026-11-01T00:01:00Z","n"')
    (snapshot / SINK / "orders-sink-2026-09.sink-1780000000.gz").write_bytes(gz(b'{"n":1}\n{"n'))
    write_marker(snapshot, verified=True)
    where = f"alpha.0/{SINK}"
    code, out, _ = run(capsys, root)
    assert code == 1
    assert out[2:-1] == [
        f"    {where}/{PLAIN}: its last byte is not a newline: the last line is a record cut short"
    ]  # the .gz's content is only read with --deep
    code, out, _ = run(capsys, root, "--deep")
    assert code == 1
    assert out[2:4] == [
        (
            f"    {where}/orders-sink-2026-09.sink-1780000000.gz: its last line is not complete "
            "(3 bytes after the last newline: a record cut short)"
        ),
        (
            f"    {where}/{PLAIN}: its last line is not complete (37 bytes after the last newline: "
            "a record cut short)"
        ),
    ]
    # The complete lines are counted, the torn ones are not.
    assert out[4].startswith("    connector orders-sink: 3 files, 101 lines; ")


def test_stray_files_are_reported_by_path(tmp_path, capsys):
    root = tmp_path / "backup"
    snapshot = make_snapshot(root, marker=False)
    sink = snapshot / SINK
    (sink / "notes.txt").write_text("x")
    (sink / f".{PLAIN}.AbC123").write_bytes(PLAIN_DATA[:10])  # rsync's temp file
    (sink / "link.sink").symlink_to(sink / PLAIN)
    os.mkfifo(sink / "pipe-2026-11.sink")
    (sink / "sub").mkdir()  # a directory alone is no problem
    write_marker(snapshot, verified=True)
    (snapshot / "extra").write_text("x")
    code, out, _ = run(capsys, root)
    assert code == 1
    where = f"alpha.0/{SINK}"
    assert out[1].endswith("  3 files  " + out[1].split("  3 files  ")[1])
    assert out[2:-1] == [
        (
            "    alpha.0/extra: not part of a snapshot (only localhost/ and .kcb-snapshot.json "
            "belong here)"
        ),
        (
            f"    {where}/.{PLAIN}.AbC123: an rsync temporary file left by a killed backup run, "
            "not a sink file (the next backup cycle removes it)"
        ),
        f"    {where}/link.sink: a symbolic link, not a sink file (rsnapshot copies no links)",
        (
            f"    {where}/notes.txt: not a sink file name ({{topic}}-{{sinkName}}-{{period}}.sink "
            "or .sink-{epoch}.gz, period YYYY-MM, YYYY-MM-DD or YYYY-MM-DDTHH) nor a topic "
            "metadata file ({topic}-{sinkName}.topic.json): nothing the backup writes"
        ),
        f"    {where}/pipe-2026-11.sink: not a regular file, so not a sink file",
    ]
    assert out[-1] == "verify: 1 snapshot, 3 files, 20 bytes read, 5 problems"


def test_a_marker_whose_digest_no_longer_matches(tmp_path, capsys):
    root = tmp_path / "backup"
    snapshot = make_snapshot(root)
    finished = json.loads((snapshot / MARKER_NAME).read_text())["finished"]
    path = snapshot / SINK / OTHER
    stamp = path.stat().st_mtime_ns + 10**9
    os.utime(path, ns=(stamp, stamp))  # same bytes, another mtime: not what was verified
    code, out, _ = run(capsys, root)
    assert code == 1
    assert out[1].startswith("alpha.0   INCOMPLETE  3 files  ")
    assert out[2:] == [
        (
            f"    alpha.0: status incomplete: its content changed after the verification of "
            f"{finished} (a backup run was cut short while rsync was writing it)"
        ),
        "verify: 1 snapshot, 3 files, 20 bytes read, 1 problem",
    ]


def test_unverified_and_missing_localhost_are_problems(tmp_path, capsys):
    root = tmp_path / "backup"
    make_snapshot(root, marker=False)
    (root / "alpha.1").mkdir()
    code, out, _ = run(capsys, root, "--all")
    assert code == 1
    assert out[1].startswith("alpha.0   unverified  3 files  ")
    assert out[2:] == [
        f"    alpha.0: status unverified: {NO_MARKER}",
        "alpha.1   unverified  0 files  0 B  2 problems",
        f"    alpha.1: status unverified: {NO_MARKER}",
        "    alpha.1/localhost: missing: the snapshot holds no backed-up file",
        "verify: 2 snapshots, 3 files, 20 bytes read, 3 problems",
    ]


def test_all_checks_every_snapshot_and_json_has_the_same(tmp_path, capsys):
    root = tmp_path / "backup"
    make_snapshot(root, "alpha.0")
    older = make_snapshot(root, "alpha.1", marker=False)
    (older / SINK / PLAIN).write_bytes(PLAIN_DATA[:-1])
    write_marker(older, verified=True)
    (root / "alpha.01").mkdir()  # not a snapshot name: not checked
    code, out, _ = run(capsys, root, "--all", "--deep")
    assert code == 1
    assert [line.split()[0] for line in out if not line.startswith(" ")] == [
        "snapshots",
        "alpha.0",
        "alpha.1",
        "verify",
    ]
    assert out[-1] == (
        f"verify --deep: 2 snapshots, 6 files, {sizes(root / 'alpha.0') + sizes(older)} bytes "
        "read, 1 problem"
    )
    # Only alpha.0's counts meet the recorded offsets.
    assert out[-2] == "    connector payments-sink: 1 file, 2 lines"

    code, out, _ = run(capsys, root, "--all", "--deep", "--json", "--sink-name", "sink")
    assert code == 1
    data = json.loads("\n".join(out))
    assert list(data) == ["root", "deep", "ok", "counts", "snapshots"]
    assert (data["root"], data["deep"], data["ok"]) == (str(root), True, False)
    assert data["counts"] == {
        "snapshots": 2,
        "files": 6,
        "bytes_read": sizes(root / "alpha.0") + sizes(older),
        "problems": 1,
    }
    first, second = data["snapshots"]
    assert (first["name"], first["ok"], first["status"], first["problems"]) == (
        "alpha.0",
        True,
        "complete",
        [],
    )
    assert first["files"][0] == {
        "path": f"alpha.0/{SINK}/{GZ}",
        "connector": "orders-sink",
        "bytes": len(gz(GZ_DATA)),
        "compressed": True,
        "lines": 60,
        "bytes_read": len(gz(GZ_DATA)),
    }
    assert first["topics"][0] == {
        "connector": "orders-sink",
        "topic": "orders",
        "files": 2,
        "lines": 100,
        "unread": 0,
        "offsets": {"compared": False, "committed": None, "matches": None, "detail": NO_OFFSETS},
    }
    assert second["problems"] == [
        {
            "path": f"alpha.1/{SINK}/{PLAIN}",
            "what": "its last line is not complete (41 bytes after the last newline: a record "
            "cut short)",
        }
    ]
    assert second["topics"][0]["offsets"] is None
    assert set(second) == {
        "name", "ok", "status", "status_reason", "verified_at", "bytes", "bytes_read", "files",
        "topics", "problems",
    }  # fmt: skip


def test_bad_input_is_exit_2_with_one_line(tmp_path, capsys):
    assert run(capsys, tmp_path / "none")[0:3:2] == (
        2,
        (
            f"kcb: error: snapshot root {tmp_path / 'none'} does not exist: mount the backup "
            "first, or give --snapshot-root\n"
        ),
    )
    assert run(capsys, tmp_path / "none", "--all")[0] == 2
    (tmp_path / "empty").mkdir()
    assert run(capsys, tmp_path / "empty", "--all")[0:3:2] == (
        2,
        (
            "kcb: error: no snapshot (alpha.N, hourly.N, daily.N, weekly.N, monthly.N) in "
            f"{tmp_path / 'empty'}: is the backup mounted?\n"
        ),
    )
    code, out, err = run(capsys, tmp_path / "empty")
    assert (code, out) == (2, [])
    assert err == (
        f"kcb: error: snapshot alpha.0 not found in {tmp_path / 'empty'} (snapshots: none)\n"
    )
    assert run(capsys, tmp_path / "empty", "alpha.x")[2] == (
        "kcb: error: --snapshot 'alpha.x' is not a snapshot name: use {level}.N with a level "
        "of alpha, hourly, daily, weekly, monthly (e.g. daily.3; kcb snapshots list shows "
        "them), or --snapshot-at TIME for the newest taken at or before TIME\n"
    )
    with pytest.raises(SystemExit) as exit_info:
        kcb(["snapshots", "verify", "alpha.0", "--all"])
    assert exit_info.value.code == 2
    assert "argument --all: not allowed with argument snapshot" in capsys.readouterr().err


def test_the_help_names_the_exit_codes(capsys):
    with pytest.raises(SystemExit):
        kcb(["snapshots", "verify", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "Exit codes: 0 every checked snapshot complete and no problem; 1 a problem found" in text
    assert "2 bad arguments, no such snapshot, or the backup could not be mounted." in text


def test_read_errors_are_problems_not_tracebacks(tmp_path, capsys, monkeypatch):
    root = tmp_path / "backup"
    make_snapshot(root)

    def broken(path: Path, offset: int, count: int) -> bytes:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(verify_module, "_read_at", broken)
    code, out, _ = run(capsys, root)
    assert code == 1
    assert out[2] == f"    alpha.0/{SINK}/{GZ}: cannot read: Input/output error"
    assert out[-1] == "verify: 1 snapshot, 3 files, 0 bytes read, 3 problems"


def envelope_line(partition: int, offset: int) -> bytes:
    return json.dumps(
        {"timestamp": 1_793_491_200_000 + offset, "timestampType": "CreateTime",
         "partition": partition, "offset": offset, "key": None, "value": "{}", "headers": []},
        separators=(",", ":"),
    ).encode() + b"\n"  # fmt: skip


ENVELOPE = "events-sink-2026-11.envelope.sink"


def make_envelope_snapshot(root: Path, offsets: dict[int, list[int]], **committed: object) -> Path:
    """alpha.0 of make_snapshot, plus an envelope file of `events` (partition -> offsets), its
    marker recording `committed` (connector -> partition -> offset) as the cycle does."""
    snapshot = make_snapshot(root, marker=False)
    data = b"".join(envelope_line(p, o) for p, found in offsets.items() for o in found)
    (snapshot / SINK / ENVELOPE).write_bytes(data)
    write_marker(snapshot, verified=True, committedOffsets=committed)
    return snapshot


def topic_line(out: list[str], connector: str) -> str:
    return next(line for line in out if line.startswith(f"    connector {connector}:"))


def test_offsets_are_compared_exactly_for_envelope_files_and_only_bound_value_files(
    tmp_path, capsys
):
    root = tmp_path / "backup"
    # Partition 0: 0..9 then a transaction's commit marker at 10 (committed 11); partition 1: a
    # compacted log (gaps) whose last record is at 40; partition 2: a log that starts at 500,
    # nothing read yet. The value files' counts are far from their offsets (migrated files,
    # markers): not compared, so no alarm.
    make_envelope_snapshot(
        root,
        {0: list(range(10)), 1: [3, 17, 40]},
        **{
            "events-sink": {"0": 11, "1": 41, "2": 500},
            "orders-sink": {"0": 7},
            "payments-sink": {"0": 900},
        },
    )
    code, out, _ = run(capsys, root, "--deep")
    assert code == 0, out
    assert topic_line(out, "events-sink") == (
        "    connector events-sink: 1 file, 13 lines; committed offsets: each partition's last "
        "record is just below the offset its group had committed at the stop (0:11, 1:41, "
        "2:500; exact, by the envelope files' offsets)"
    )
    assert topic_line(out, "orders-sink") == (
        "    connector orders-sink: 2 files, 100 lines; committed offsets: 7 in all at the "
        "stop, only a bound for value files (not compared: offsets are no count of lines, as "
        "transaction markers, compaction and a log that starts above 0 take offsets without "
        "lines, and migrated files and redelivered records add lines)"
    )


@pytest.mark.parametrize(
    ("committed", "problem"),
    [
        (
            {"0": 13, "1": 41},
            (
                "partition 0: its last record is at offset 9, but its group had committed 13 at "
                "the stop: the records at offsets 10..12 are missing (a transaction's commit "
                "marker takes one offset, not more)"
            ),
        ),
        (
            {"0": 9, "1": 41},
            (
                "partition 0: a record at offset 9, at or past the offset 9 its group had "
                "committed at the stop"
            ),
        ),
        (
            {"0": 10},
            (
                "partition 1: records up to offset 40, but its group had committed no offset on it "
                "at the stop"
            ),
        ),
    ],
)
def test_an_envelope_partition_that_disagrees_with_its_committed_offset_is_a_problem(
    tmp_path, capsys, committed: dict[str, int], problem: str
):
    root = tmp_path / "backup"
    make_envelope_snapshot(root, {0: list(range(10)), 1: [3, 17, 40]}, **{"events-sink": committed})
    code, out, _ = run(capsys, root, "--deep")
    assert code == 1
    assert (
        out[2]
        == f"    alpha.0: connector events-sink: 1 file, 13 lines; committed offsets: {problem}"
    )


@pytest.mark.parametrize(
    "offsets",
    [{"0": "abc"}, {"zero": 1}, {"0": -1}, {"0": 1.5}, {"0": True}, {"²": 1}],
)
def test_a_marker_with_offsets_that_are_no_numbers_is_a_problem_naming_them(
    tmp_path, capsys, offsets: dict[str, object]
):
    root = tmp_path / "backup"
    make_envelope_snapshot(root, {0: [0]}, **{"events-sink": offsets})
    code, out, err = run(capsys, root, "--deep")
    assert (code, err) == (1, "")
    [(partition, offset)] = offsets.items()
    assert out[2] == (
        "    alpha.0: its completeness marker's committedOffsets of events-sink holds "
        f"{partition!r}: {offset!r}, not a partition number and an offset"
    )


def test_deep_reads_every_line_as_restore_does(tmp_path, capsys):
    """A line damaged without changing the size or the mtime (the listing digest still
    matches) and a value file with a byte that is not UTF-8: restore refuses both, so verify
    --deep fails them, naming the line."""
    root = tmp_path / "backup"
    snapshot = make_envelope_snapshot(root, {0: [0, 1, 2]}, **{"events-sink": {"0": 3}})
    envelope, plain = snapshot / SINK / ENVELOPE, snapshot / SINK / PLAIN
    for path, old, new in ((envelope, b'"partition":0,"offset":1', b'"partition":0,"offset":x'),
                           (plain, b'"n":7}', b'"n":\xff}')):  # fmt: skip
        stat = path.stat()
        data = path.read_bytes()
        assert data.count(old) == 1 and len(old) == len(new)
        path.write_bytes(data.replace(old, new))
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    code, out, _ = run(capsys, root, "--deep")
    assert code == 1
    assert out[1].startswith("alpha.0   complete    4 files  ")
    assert out[2:4] == [
        (
            f"    alpha.0/{SINK}/{ENVELOPE}: restore refuses it: line 2 is not an envelope line "
            "(not JSON: Expecting value: line 1 column 80 (char 79)): is it an envelope sink "
            "file (sinkFormat: envelope)?"
        ),
        (
            f"    alpha.0/{SINK}/{PLAIN}: restore refuses it: it is not UTF-8 text: line 8, "
            "byte 39 (invalid start byte); is it a sink file?"
        ),
    ]
    assert topic_line(out, "events-sink") == (
        "    connector events-sink: 1 file, 0 lines (1 file not read whole: not counted); "
        "committed offsets: not compared: 1 file not read whole"
    )


def test_deep_reports_a_file_that_reads_shorter_than_its_size(tmp_path, capsys, monkeypatch):
    """What a filesystem reporting more than it can give (or a file cut while read) shows."""
    root = tmp_path / "backup"
    make_snapshot(root)

    def larger(path: Path) -> SourceFile:
        found = inspect(path)
        return SourceFile(found.path, found.size + 5, found.compressed, found.sink)

    monkeypatch.setattr(verify_module, "inspect", larger)
    code, out, _ = run(capsys, root, "--deep")
    assert code == 1
    size = len(PLAIN_DATA)
    assert out[2] == f"    alpha.0/{SINK}/{PLAIN}: read {size} bytes, but its size is {size + 5}"


def test_a_snapshot_that_cannot_be_listed_is_a_problem_not_a_traceback(
    tmp_path, capsys, monkeypatch
):
    root = tmp_path / "backup"
    snapshot = make_snapshot(root)

    def unlistable(host: Path) -> list[Path]:
        raise OSError(errno.EIO, os.strerror(errno.EIO), str(host / "data"))

    monkeypatch.setattr(verify_module, "_walk", unlistable)
    code, out, _ = run(capsys, root, "--deep")
    assert code == 1
    assert out[1:] == [
        "alpha.0   INCOMPLETE  0 files  0 B  1 problem",
        (
            "    alpha.0: status incomplete: cannot be listed: Input/output error "
            "(alpha.0/localhost/data)"
        ),
        "verify --deep: 1 snapshot, 0 files, 0 bytes read, 1 problem",
    ]
    assert (snapshot / SINK / PLAIN).is_file()


def test_verify_defaults_to_the_newest_snapshot_of_any_level(tmp_path: Path) -> None:
    """After moving from backup.retention to backup.keep the volume holds an older alpha.0
    beside hourly.0: verify checks what the last cycle took, whichever level took it."""
    root = tmp_path / "snapshots"
    for name, finished in (
        ("alpha.0", "2026-11-01T00:00:00Z"),
        ("hourly.0", "2026-12-01T00:15:00Z"),
        ("daily.0", "2026-11-30T00:00:00Z"),
    ):
        (root / name / "localhost").mkdir(parents=True)
        (root / name / ".kcb-snapshot.json").write_text(json.dumps({"finished": finished}))
    assert snapshots_to_verify(root, None, every=False) == [root / "hourly.0"]
    assert snapshots_to_verify(root, "daily.0", every=False) == [root / "daily.0"]
    assert snapshots_to_verify(root, None, every=True) == [
        root / n for n in ("alpha.0", "hourly.0", "daily.0")
    ]
