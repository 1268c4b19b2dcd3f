"""`kcb snapshots list`: date, files, sizes and record time range of every alpha.N."""

import gzip
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kafka_connect_backup.cli import main as kcb
from kafka_connect_backup.layout.names import MARKER_NAME
from kafka_connect_backup.layout.snapshot_status import NO_MARKER, write_marker
from kafka_connect_backup.restore.cli import main as restore

pytestmark = pytest.mark.unit

STEM = "connect1-local-file-sink-backup"
RESTORE = Path(__file__).resolve().parents[2] / "scripts" / "restore.py"


def make_root(tmp_path: Path) -> Path:
    root = tmp_path / "backup"
    for number, (current, older) in enumerate(
        [
            (["2021-02-03T10:00:00Z", "2021-02-01T00:00:00Z"], ["2021-01-05T00:00:00Z"]),
            (["2021-02-01T00:00:00Z"], ["2021-01-05T00:00:00Z", "2021-01-30T12:00:00Z"]),
        ]
    ):
        base = root / f"alpha.{number}" / "localhost" / "data" / "filesink"
        base.mkdir(parents=True)
        (base / f"{STEM}-2021-02.sink").write_text(
            "".join(f'{{"utcTime":"{t}"}}\n' for t in current)
        )
        (base / f"{STEM}-2021-01.sink-1612137600.gz").write_bytes(
            gzip.compress("".join(f'{{"utcTime":"{t}"}}\n' for t in older).encode())
        )
        (base / "other-local-file-sink-backup-2021-02.sink").write_text(
            '{"utcTime":"2020-01-01"}\n'
        )
        stamp = 1612346400 - number * 86400  # alpha.0 newest
        os.utime(root / f"alpha.{number}", (stamp, stamp))
    return root


@pytest.fixture
def clock(monkeypatch):
    """`kcb snapshots list` measures ages at 2021-02-04T10:00Z."""
    moment = datetime(2021, 2, 4, 10, 0, tzinfo=UTC)
    monkeypatch.setattr("kafka_connect_backup.inspect.snapshots.now", lambda: moment)
    return moment


def test_snapshots_list_shows_dates_files_sizes_and_record_range(tmp_path, capsys, clock):
    root = make_root(tmp_path)
    assert (
        kcb(
            [
                "snapshots",
                "list",
                "--snapshot-root",
                str(root),
                "--topic",
                "connect1",
                "--sink-name",
                "local-file-sink-backup",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out.splitlines()
    assert out[0] == (
        f"snapshots in {root} (newest: alpha.0, taken 2021-02-03T10:00:00Z (1.0d ago)):"
    )
    assert out[1].startswith("alpha.0   2021-02-03T10:00:00Z (1.0d ago)  unverified  2 files  ")
    assert out[1].endswith("records 2021-01-05T00:00:00Z .. 2021-02-03T10:00:00Z")
    assert out[2] == "    status: unverified (no marker)"
    assert out[3].strip().startswith(f"localhost/data/filesink/{STEM}-2021-01.sink-1612137600.gz")
    assert out[3].endswith("1 lines, 2021-01-05T00:00:00Z .. 2021-01-05T00:00:00Z")
    assert out[5].startswith("alpha.1   2021-02-02T10:00:00Z (2.0d ago)  unverified  2 files  ")
    assert out[5].endswith("records 2021-01-05T00:00:00Z .. 2021-02-01T00:00:00Z")
    assert len(out) == 9  # no incomplete snapshot: no note


def test_snapshots_list_json_every_connector(tmp_path, capsys):
    root = make_root(tmp_path)
    assert kcb(["snapshots", "list", "--snapshot-root", str(root), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [s["name"] for s in data] == ["alpha.0", "alpha.1"]
    first = data[0]
    assert (first["status"], first["quarantined"], first["verified_at"]) == (
        "unverified",
        False,
        None,
    )
    assert first["status_reason"] == NO_MARKER
    assert len(first["files"]) == 3
    assert first["first_record_time"] == "2020-01-01T00:00:00Z"
    assert first["bytes"] == sum(f["bytes"] for f in first["files"])
    sizes = {f["path"].rsplit("/", 1)[1]: f["bytes"] for f in first["files"]}
    assert sizes[f"{STEM}-2021-02.sink"] == len(
        '{"utcTime":"2021-02-03T10:00:00Z"}\n{"utcTime":"2021-02-01T00:00:00Z"}\n'
    )


def test_snapshots_list_without_a_mounted_backup(tmp_path, capsys):
    assert kcb(["snapshots", "list", "--snapshot-root", str(tmp_path / "none")]) == 2
    assert "does not exist: is the backup mounted?" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    # No snapshot is a failure, not an empty success (a script must not take it for "all fine").
    assert kcb(["snapshots", "list", "--snapshot-root", str(tmp_path / "empty")]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert (
        captured.err
        == f"kcb: no snapshot ({{level}}.N) in {tmp_path / 'empty'}: is the backup mounted?\n"
    )


def export_args(root: Path, *extra: str) -> list[str]:
    return [
        "snapshots", "export", "--snapshot-root", str(root), "--topic", "connect1",
        "--sink-name", "local-file-sink-backup", *extra,
    ]  # fmt: skip


def test_snapshots_export_writes_the_window_in_file_order_with_restores_counts(
    tmp_path, capsysbinary
):
    root = make_root(tmp_path)
    code = kcb(export_args(root, "--snapshot", "alpha.1", "--from", "2021-01-20"))
    captured = capsysbinary.readouterr()
    assert code == 0, captured.err
    # The gzipped January file first, then February's: the records at or after the bound.
    assert captured.out == (
        b'{"utcTime":"2021-01-30T12:00:00Z"}\n{"utcTime":"2021-02-01T00:00:00Z"}\n'
    )
    warning, summary = captured.err.decode().splitlines(keepends=True)
    assert warning.startswith("warning: snapshot alpha.1 is unverified (no completeness marker")
    assert summary == (
        "kcb: exported 2 records of connect1 from alpha.1 (2 files, 3 read, 1 skipped: "
        "before_from 1; from 2021-01-20T00:00:00+00:00 (inclusive) to the last record) to "
        "stdout\n"
    )
    dry = subprocess.run(
        [
            sys.executable, str(RESTORE), "connect1", "127.0.0.1:9", "--snapshot", "alpha.1",
            "--snapshot-root", str(root), "--from", "2021-01-20", "--dry-run",
            "--summary-json", "-",
        ],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    summary = json.loads(dry.stdout)
    assert (summary["read"], summary["would_send"], summary["skipped"]) == (
        3, 2, {"before_from": 1}
    )  # fmt: skip


def test_snapshots_export_to_a_file_and_its_refusals(tmp_path, capsys):
    root = make_root(tmp_path)
    target = tmp_path / "out" / "january.jsonl"
    target.parent.mkdir()
    args = ["--from", "2021-01-01", "--to", "2021-02-01", "-o", str(target)]
    assert kcb(export_args(root, *args)) == 0
    assert target.read_text() == '{"utcTime":"2021-01-05T00:00:00Z"}\n'
    assert list(target.parent.iterdir()) == [target]  # no temporary file left
    capsys.readouterr()
    for extra, message in [
        (["--from", "yesterday"], "kcb: error: 'yesterday' is not an ISO-8601 time"),
        (["--from", "2021-01-01", "-o", str(tmp_path / "nope" / "x")], "kcb: error: -o "),
        (["--from", "2021-01-01", "--timestamp-field", "a..b"], "kcb: error: --timestamp-field"),
        (["--from", "2021-01-01", "--snapshot", "alpha.7"], "kcb: error: snapshot "),
    ]:
        assert kcb(export_args(root, *extra)) == 2, extra
        err = capsys.readouterr().err
        assert err.startswith(message) and len(err.splitlines()) == 1, err


def _statuses(tmp_path: Path) -> Path:
    """alpha.0 cut short after its verification, alpha.1 complete, alpha.2 unverified (an
    older version's), and a directory the interrupted-run cleanup set aside."""
    root = make_root(tmp_path)
    (root / "alpha.2").mkdir()
    os.link(
        root / "alpha.1/localhost/data/filesink" / f"{STEM}-2021-02.sink",
        root / "alpha.2" / "unrelated",
    )
    for name in ("alpha.0", "alpha.1"):
        write_marker(root / name, verified=True, files=3, bytes=100)
    (root / "alpha.0/localhost/data/filesink" / f"{STEM}-2021-03.sink").write_text("{}\n")
    aside = root / "_incomplete.alpha.0.1612346400"
    (aside / "localhost").mkdir(parents=True)
    (aside / "localhost" / f"{STEM}-2021-02.sink").write_text('{"utcTime":"2021-02-02"}\n')
    os.utime(aside, (1612346400, 1612346400))
    (root / "_incomplete.alpha.x.1").mkdir()  # not a name the cleanup makes: not listed
    return root


def test_snapshots_list_says_which_snapshots_are_incomplete(tmp_path, capsys, clock):
    root = _statuses(tmp_path)
    finished = json.loads((root / "alpha.0" / MARKER_NAME).read_text())["finished"]
    assert kcb(["snapshots", "list", "--snapshot-root", str(root), "--no-range"]) == 0
    out = capsys.readouterr().out.splitlines()
    headers = [line for line in out if not line.startswith("    ")]
    assert [h.split()[0] for h in headers[1:-1]] == [
        "alpha.0",
        "alpha.1",
        "alpha.2",
        "_incomplete.alpha.0.1612346400",
    ]
    assert [h.split()[4] for h in headers[1:-1]] == ["INCOMPLETE", "complete", "unverified", "SET"]
    assert out[2] == (
        f"    status: incomplete: its content changed after the verification of {finished} "
        "(a backup run was cut short while rsync was writing it)"
    )
    assert "    status: unverified (no marker)" in out
    assert (
        "    status: incomplete: set aside by the interrupted-run cleanup at "
        "2021-02-03T10:00:00Z (it was alpha.0, and its content matched no snapshot from before "
        "the cut-short run); check it, then delete it"
    ) in out
    assert out[-1] == (
        "incomplete: alpha.0, _incomplete.alpha.0.1612346400: restore.py --snapshot refuses "
        "them unless --allow-incomplete is given; restore from a complete snapshot instead"
    )

    assert kcb(["snapshots", "list", "--snapshot-root", str(root), "--json"]) == 0
    data = {s["name"]: s for s in json.loads(capsys.readouterr().out)}
    assert {n: (s["status"], s["quarantined"]) for n, s in data.items()} == {
        "alpha.0": ("incomplete", False),
        "alpha.1": ("complete", False),
        "alpha.2": ("unverified", False),
        "_incomplete.alpha.0.1612346400": ("incomplete", True),
    }
    assert data["alpha.1"]["status_reason"] is None
    assert data["alpha.1"]["verified_at"] == finished
    assert data["_incomplete.alpha.0.1612346400"]["last_record_time"] == "2021-02-02T00:00:00Z"


def test_only_set_aside_directories_are_listed_and_still_no_snapshot(tmp_path, capsys, clock):
    root = _statuses(tmp_path)
    for name in ("alpha.0", "alpha.1", "alpha.2"):
        (root / name).rename(tmp_path / name)
    assert kcb(["snapshots", "list", "--snapshot-root", str(root)]) == 1
    captured = capsys.readouterr()
    assert captured.out.splitlines()[1].startswith(
        "_incomplete.alpha.0.1612346400 2021-02-03T10:00:00Z (1.0d ago)  SET ASIDE   1 files"
    )
    assert captured.err == f"kcb: no snapshot ({{level}}.N) in {root}: is the backup mounted?\n"


def _restore(root: Path, *extra: str) -> tuple[int, str, str]:
    import io

    out, err = io.StringIO(), io.StringIO()
    argv = ["connect1", "k", "--from", "2021-01-01", "--dry-run", "--snapshot-root", str(root)]
    argv += ["--sink-name", "local-file-sink-backup", *extra]
    code = restore(argv, stdin=io.StringIO(""), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_restore_refuses_an_incomplete_snapshot_unless_allowed(tmp_path, monkeypatch):
    monkeypatch.setattr(
        "kafka_connect_backup.restore.validate.DEFAULT_CONFIG_PATH", tmp_path / "absent.yaml"
    )
    root = _statuses(tmp_path)
    finished = json.loads((root / "alpha.0" / MARKER_NAME).read_text())["finished"]
    code, out, err = _restore(root, "--snapshot", "alpha.0")
    assert (code, out) == (2, "")
    assert err == (
        f"restore.py: error: snapshot alpha.0 in {root} is incomplete: its content changed "
        f"after the verification of {finished} (a backup run was cut short while rsync was "
        "writing it). Restore from a complete snapshot (alpha.1) (kcb snapshots list shows "
        "each one's status), or give --allow-incomplete to read what it holds anyway\n"
    )
    code, out, err = _restore(root, "--snapshot", "alpha.0", "--allow-incomplete")
    assert code == 0
    assert err.startswith(
        "warning: snapshot alpha.0 is incomplete (its content changed after the verification "
    )
    assert "reading what it holds because of --allow-incomplete" in err
    assert out.endswith("dry run: would send 3 records to connect1\n")

    aside = "_incomplete.alpha.0.1612346400"
    assert _restore(root, "--snapshot", aside)[0] == 2
    code, _out, err = _restore(root, "--snapshot", aside, "--allow-incomplete")
    assert code == 0 and f"warning: snapshot {aside} is incomplete (set aside by" in err

    code, _out, err = _restore(root, "--snapshot", "alpha.1")
    assert (code, "warning" in err) == (0, False)


def test_restore_warns_about_an_unverified_snapshot(tmp_path, monkeypatch):
    monkeypatch.setattr(
        "kafka_connect_backup.restore.validate.DEFAULT_CONFIG_PATH", tmp_path / "absent.yaml"
    )
    root = make_root(tmp_path)
    code, _out, err = _restore(root, "--snapshot", "alpha.1")
    assert code == 0
    assert err == (
        f"warning: snapshot alpha.1 is unverified ({NO_MARKER}): its files are read as they are\n"
    )
    code, _out, err = _restore(root, "--snapshot", "alpha.1", "--allow-incomplete", "--files", "x")
    assert code == 2
    code, _out, err = _restore(root, "--allow-incomplete")
    assert (code, err) == (
        2,
        (
            "restore.py: error: --allow-incomplete applies to --snapshot only (--snapshot-at never "
            "chooses an incomplete snapshot)\n"
        ),
    )


def test_a_snapshot_of_this_version_without_its_marker_is_incomplete(tmp_path, monkeypatch):
    """This version writes a topic metadata file into every snapshot (and a completeness
    marker beside each): one without its marker lost it, and is not read as an older
    version's unverified snapshot."""
    from datetime import UTC, datetime

    from kafka_connect_backup.kafka.topic_metadata import TopicMetadata, write_metadata
    from kafka_connect_backup.layout.snapshot_status import MARKER_LOST

    monkeypatch.setattr(
        "kafka_connect_backup.restore.validate.DEFAULT_CONFIG_PATH", tmp_path / "absent.yaml"
    )
    root = tmp_path / "backup"
    for name in ("alpha.0", "alpha.1"):
        host = root / name / "localhost"
        host.mkdir(parents=True)
        (host / f"{STEM}-2021-02.sink").write_text('{"utcTime":"2021-02-01T00:00:00Z"}\n')
        metadata = TopicMetadata("connect1", datetime(2021, 2, 2, tzinfo=UTC), 1, 1)
        write_metadata(host, "local-file-sink-backup", metadata)
        write_marker(root / name, verified=True)
    (root / "alpha.0" / MARKER_NAME).unlink()

    code, _out, err = _restore(root, "--snapshot", "alpha.0")
    assert code == 2
    assert err == (
        f"restore.py: error: snapshot alpha.0 in {root} is incomplete: {MARKER_LOST}. Restore "
        "from a complete snapshot (alpha.1) (kcb snapshots list shows each one's status), or "
        "give --allow-incomplete to read what it holds anyway\n"
    )
    code, _out, err = _restore(root, "--snapshot", "alpha.0", "--allow-incomplete")
    assert code == 0
    assert err.startswith(f"warning: snapshot alpha.0 is incomplete ({MARKER_LOST}): reading")
    assert _restore(root, "--snapshot", "alpha.1")[0:3:2] == (0, "")


def test_list_of_a_topic_no_snapshot_holds_says_so_and_exits_1(tmp_path, capsys):
    root = make_root(tmp_path)
    args = [
        "snapshots",
        "list",
        "--snapshot-root",
        str(root),
        "--sink-name",
        "local-file-sink-backup",
    ]
    assert kcb([*args, "--topic", "nosuch"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        f"kcb: no snapshot in {root} holds a file of topic 'nosuch' (connector "
        "nosuch-local-file-sink-backup: no nosuch-local-file-sink-backup-*.sink file, no "
        "nosuch-local-file-sink-backup.topic.json); the snapshots hold "
        "connect1-local-file-sink-backup, other-local-file-sink-backup: check --topic and "
        "--sink-name\n"
    )
    assert kcb([*args, "--topic", "nosuch", "--json"]) == 1
    assert capsys.readouterr().out == ""
    assert kcb([*args, "--topic", "other"]) == 0
    assert "1 files" in capsys.readouterr().out


def test_list_and_export_take_a_time_no_clock_can_show_as_unreadable(tmp_path, capsysbinary):
    """A record whose producer wrote microseconds (the year 58885): listed and exported, as
    restore reads it, as a record without a readable time (not a ValueError)."""
    root = tmp_path / "backup"
    host = root / "alpha.0" / "localhost"
    host.mkdir(parents=True)
    lines = [
        {"timestamp": 1612137600000, "timestampType": "CreateTime", "partition": 0, "offset": 0,
         "key": None, "value": "first", "headers": []},
        {"timestamp": 1796083200000000, "timestampType": "CreateTime", "partition": 0,
         "offset": 1, "key": None, "value": "micros", "headers": []},
    ]  # fmt: skip
    (host / f"{STEM}-2021-02.envelope.sink").write_text(
        "".join(json.dumps(line) + "\n" for line in lines)
    )
    listing = ["snapshots", "list", "--snapshot-root", str(root), "--topic", "connect1"]
    assert kcb([*listing, "--sink-name", "local-file-sink-backup"]) == 0
    out = capsysbinary.readouterr().out.decode()
    assert "  2 lines, 2021-02-01T00:00:00Z .. 2021-02-01T00:00:00Z" in out
    assert kcb(export_args(root, "--from", "2021-01-01")) == 0
    captured = capsysbinary.readouterr()
    assert captured.out == (json.dumps(lines[0]) + "\n").encode()  # the envelope line as kept
    assert "exported 1 records of connect1 from alpha.0 (1 files, 2 read, 1 skipped: " in (
        captured.err.decode()
    )
    assert "missing_timestamp 1" in captured.err.decode()


def test_snapshots_export_into_a_closed_pipe_ends_quietly(tmp_path):
    """`kcb snapshots export ... | head`: no BrokenPipeError traceback, the SIGPIPE status."""
    root = make_root(tmp_path)
    base = root / "alpha.0" / "localhost" / "data" / "filesink"
    lines = "".join(f'{{"utcTime":"2021-02-02T00:00:00Z","n":{i},"pad":"{"x" * 80}"}}\n'
                    for i in range(30000))  # fmt: skip
    (base / f"{STEM}-2021-02.sink").write_text(lines)  # 3 MB: far past a pipe's buffer
    command = "import sys; from kafka_connect_backup.cli import main; sys.exit(main())"
    with subprocess.Popen(
        [sys.executable, "-c", command, *export_args(root, "--from", "2021-01-01")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as child:
        assert child.stdout is not None and child.stderr is not None
        first = child.stdout.readline()
        child.stdout.close()  # what head does after its lines
        err = child.stderr.read().decode()
        code = child.wait(timeout=60)
    assert first.startswith(b'{"utcTime":"2021-01-05T00:00:00Z"}')
    assert code == 141, err
    assert "Traceback" not in err and "BrokenPipe" not in err, err
    # The snapshot it chose (no --snapshot: the newest), the warning about it, nothing else.
    chosen, warning = err.splitlines()
    assert chosen == "kcb: snapshot alpha.0, taken 2021-02-03T10:00:00Z: the newest snapshot"
    assert warning.startswith("warning: snapshot alpha.0 is unverified")


def test_snapshots_export_takes_timestamp_field_on_envelope_files(tmp_path, capsysbinary):
    """It was ignored there (the record timestamps chose); now it selects as restore.py does."""
    base = tmp_path / "backup" / "alpha.0" / "localhost"
    base.mkdir(parents=True)
    t0 = 1_767_225_600_000  # 2026-01-01T00:00Z: every record timestamp after 2020
    lines = [
        json.dumps({"timestamp": t0 + i, "timestampType": "CreateTime", "partition": 0,
                    "offset": i, "key": None, "value": json.dumps({"at": f"2020-0{i + 1}-01"}),
                    "headers": []})
        for i in range(4)
    ]  # fmt: skip
    (base / "t-s-2026-01.envelope.sink").write_text("".join(f"{line}\n" for line in lines))
    args = ["snapshots", "export", "--snapshot-root", str(tmp_path / "backup"), "--topic", "t",
            "--sink-name", "s", "--from", "2020-03-01"]  # fmt: skip
    assert kcb([*args, "--timestamp-field", "at"]) == 0
    captured = capsysbinary.readouterr()
    assert captured.out.decode().splitlines() == lines[2:]
    assert b"exported 2 records of t" in captured.err
    assert kcb(args) == 0  # without it: the record timestamps, all after the bound
    assert capsysbinary.readouterr().out.decode().splitlines() == lines


def test_snapshots_export_after_a_format_switch_keeps_the_written_order(tmp_path, capsysbinary):
    """sinkFormat value -> envelope on March 10th: the 30 older value records come before the
    5 newer envelope records (before, the envelope file came first)."""
    base = tmp_path / "backup" / "alpha.0" / "localhost" / "data" / "filesink"
    base.mkdir(parents=True)
    value = base / f"{STEM}-2026-03.sink"
    value.write_text("".join(f'{{"utcTime":"2026-03-01T00:00:{i:02d}Z"}}\n' for i in range(30)))
    envelope = base / f"{STEM}-2026-03.envelope.sink"
    lines = [
        json.dumps({"timestamp": 1773100800000 + i, "timestampType": "CreateTime",
                    "partition": 0, "offset": 30 + i, "key": None, "value": None,
                    "headers": []})
        for i in range(5)
    ]  # fmt: skip
    envelope.write_text("".join(f"{item}\n" for item in lines))
    os.utime(value, (1773100800, 1773100800))  # 2026-03-10T00:00Z, its last write
    os.utime(envelope, (1773964800, 1773964800))  # 2026-03-20T00:00Z
    code = kcb(export_args(tmp_path / "backup", "--snapshot", "alpha.0", "--from", "2026-01-01"))
    captured = capsysbinary.readouterr()
    assert code == 0, captured.err
    exported = captured.out.decode().splitlines()
    assert len(exported) == 35
    assert exported[:30] == value.read_text().splitlines()
    assert exported[30:] == lines
