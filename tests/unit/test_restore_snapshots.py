"""`kcb snapshots list`: date, files, sizes and record time range of every alpha.N."""

import gzip
import json
import os
from pathlib import Path

import pytest

from kafka_connect_backup.cli import main as kcb

pytestmark = pytest.mark.unit

STEM = "connect1-local-file-sink-backup"


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
