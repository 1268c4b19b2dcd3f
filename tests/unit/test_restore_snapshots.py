"""`kcb snapshots list`: date, files, sizes and record time range of every alpha.N."""

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kafka_connect_backup.cli import main as kcb

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


def test_snapshots_list_shows_dates_files_sizes_and_record_range(tmp_path, capsys):
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
    assert out[0] == f"snapshots in {root}:"
    assert out[1].startswith("alpha.0   2021-02-03T10:00:00Z  2 files  ")
    assert out[1].endswith("records 2021-01-05T00:00:00Z .. 2021-02-03T10:00:00Z")
    assert out[2].strip().startswith(f"localhost/data/filesink/{STEM}-2021-01.sink-1612137600.gz")
    assert out[2].endswith("1 lines, 2021-01-05T00:00:00Z .. 2021-01-05T00:00:00Z")
    assert out[4].startswith("alpha.1   2021-02-02T10:00:00Z  2 files  ")
    assert out[4].endswith("records 2021-01-05T00:00:00Z .. 2021-02-01T00:00:00Z")


def test_snapshots_list_json_every_connector(tmp_path, capsys):
    root = make_root(tmp_path)
    assert kcb(["snapshots", "list", "--snapshot-root", str(root), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [s["name"] for s in data] == ["alpha.0", "alpha.1"]
    first = data[0]
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
        == f"kcb: no snapshot (alpha.N) in {tmp_path / 'empty'}: is the backup mounted?\n"
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
    assert captured.err.decode() == (
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
