"""Restore sources: .sink and .gz read the same, ordering by period, torn last lines, UTF-8,
globs and snapshots; the scan's plan of what to send."""

import gzip
import os
from pathlib import Path

import pytest

from kafka_connect_backup.kafka.timefilter import (
    MissingTimestamp,
    TimeFilter,
    TimeWindow,
    parse_time,
)
from kafka_connect_backup.layout.snapshot_dirs import snapshot_dirs
from kafka_connect_backup.restore.plan import MissingTimestampError, scan
from kafka_connect_backup.restore.replay import planned_segments
from kafka_connect_backup.restore.sources import (
    LineBatches,
    SourceError,
    from_patterns,
    from_snapshot,
    inspect,
)

pytestmark = pytest.mark.unit

STEM = "connect1-local-file-sink-backup"


def record(minute: int, day: int = 19, **extra: object) -> str:
    fields = "".join(f',"{k}":"{v}"' for k, v in extra.items())
    return f'{{"utcTime":"2021-01-{day:02d}T15:{minute:02d}:00.000Z"{fields}}}'


def write(path: Path, lines: list[str], *, torn: str | None = None, gz: bool = False) -> Path:
    data = "".join(f"{line}\n" for line in lines) + (torn or "")
    if gz:
        path.write_bytes(gzip.compress(data.encode()))
    else:
        path.write_text(data)
    return path


def sent(plan) -> list[str]:
    return [line.decode() for fp in plan.files for seg in planned_segments(fp) for line in seg]


def everything() -> TimeFilter:
    return TimeFilter(TimeWindow(parse_time("1970-01-01"), None))


def test_gz_and_plain_files_read_the_same(tmp_path):
    lines = [record(m, user=f"u{m}") for m in range(50)]
    plain = write(tmp_path / f"{STEM}-2021-01.sink", lines)
    packed = write(tmp_path / f"{STEM}-2020-12.sink-1612137600.gz", lines, gz=True)
    assert inspect(packed).compressed and not inspect(plain).compressed
    for source in (inspect(plain), inspect(packed)):
        assert [b.decode() for batch in LineBatches(source) for b in batch] == lines
    # gzip is detected by content, not by name
    odd = tmp_path / "renamed.sink"
    odd.write_bytes(packed.read_bytes())
    assert [b.decode() for batch in LineBatches(inspect(odd)) for b in batch] == lines


def test_files_are_ordered_by_period_then_epoch_then_others_by_name(tmp_path):
    names = [
        f"{STEM}-2021-02.sink",
        f"{STEM}-2020-12.sink-1612137600.gz",
        f"{STEM}-2021-01.sink-1614556800.gz",
        f"{STEM}-2021-01.sink",
        "zz-extra.txt",
        "aa-extra.txt",
    ]
    for name in names:
        write(tmp_path / name, [record(1)], gz=name.endswith(".gz"))
    ordered = [f.path.name for f in from_patterns([str(tmp_path / "*")])]
    assert ordered == [
        f"{STEM}-2020-12.sink-1612137600.gz",
        f"{STEM}-2021-01.sink",
        f"{STEM}-2021-01.sink-1614556800.gz",
        f"{STEM}-2021-02.sink",
        "aa-extra.txt",
        "zz-extra.txt",
    ]


def test_lines_keep_file_order_across_batches(tmp_path):
    lines = [record(m % 60, user="x" * (m % 7)) for m in range(3000)]
    source = inspect(write(tmp_path / f"{STEM}-2021-01.sink", lines))
    got = [b.decode() for batch in LineBatches(source, chunk_size=97) for b in batch]
    assert got == lines


def test_torn_last_line_is_reported_and_skipped(tmp_path):
    path = write(tmp_path / f"{STEM}-2021-01.sink", [record(1), record(2)], torn='{"utcTime":"20')
    plan = scan([inspect(path)], everything(), MissingTimestamp.INCLUDE)
    file_plan = plan.files[0]
    assert file_plan.torn and file_plan.lines == 2
    assert plan.read == 3 and plan.matched == 2
    assert dict(plan.skipped) == {"torn_last_line": 1}
    assert sent(plan) == [record(1), record(2)]


def test_torn_line_in_a_gz_file(tmp_path):
    path = write(tmp_path / f"{STEM}-2021-01.sink-1.gz", [record(1)], torn=record(2), gz=True)
    plan = scan([inspect(path)], everything(), MissingTimestamp.SKIP)
    assert plan.files[0].torn and sent(plan) == [record(1)]


def test_scan_keeps_the_window_in_order_across_files(tmp_path):
    older = write(tmp_path / f"{STEM}-2020-12.sink-99.gz", [record(10, day=18)], gz=True)
    current = write(
        tmp_path / f"{STEM}-2021-01.sink",
        [record(56), record(57), "not json", record(58), record(30, day=20), record(0, day=19)],
    )
    window = TimeFilter(TimeWindow(parse_time("2021-01-19T15:57"), parse_time("2021-01-20")))
    plan = scan(from_patterns([str(older), str(current)]), window, MissingTimestamp.SKIP)
    assert sent(plan) == [record(57), record(58)]
    assert dict(plan.skipped) == {"before_from": 3, "at_or_after_to": 1, "missing_timestamp": 1}
    assert plan.files[1].ranges == [(1, 2), (3, 4)]
    assert plan.read == 7 and plan.matched == 2


@pytest.mark.parametrize(
    ("mode", "expected_sent", "skipped"),
    [
        ("skip", [record(58)], {"missing_timestamp": 2}),
        ("include", ['{"id":1}', record(58), "plain text"], {}),
    ],
)
def test_missing_timestamp_skip_and_include(tmp_path, mode, expected_sent, skipped):
    path = write(tmp_path / "a.sink", ['{"id":1}', record(58), "plain text"])
    window = TimeFilter(TimeWindow(parse_time("2021-01-19T15:57"), None))
    plan = scan([inspect(path)], window, MissingTimestamp(mode))
    assert sent(plan) == expected_sent
    assert dict(plan.skipped) == skipped
    assert plan.files[0].missing_included == (2 if mode == "include" else 0)


def test_missing_timestamp_fail_names_the_line(tmp_path):
    path = write(tmp_path / "a.sink", [record(58), '{"id":1}'])
    window = TimeFilter(TimeWindow(parse_time("2021-01-19T15:57"), None))
    with pytest.raises(MissingTimestampError, match=r"a.sink line 2 has no readable 'utcTime'"):
        scan([inspect(path)], window, MissingTimestamp.FAIL)


def test_non_utf8_file_is_refused_with_its_line(tmp_path):
    path = tmp_path / "bad.sink"
    path.write_bytes(f"{record(1)}\n{record(2)}\nabc\xff\xfedef\n".encode("latin-1"))
    with pytest.raises(SourceError, match=r"bad.sink is not UTF-8 text: line 3, byte 4"):
        scan([inspect(path)], everything(), MissingTimestamp.SKIP)


def test_empty_glob_missing_file_directory_and_unreadable(tmp_path):
    with pytest.raises(SourceError, match=r"no file matches '.*/nothing\*\.sink'"):
        from_patterns([str(tmp_path / "nothing*.sink")])
    with pytest.raises(SourceError, match=r"missing.sink does not exist"):
        from_patterns([str(tmp_path / "missing.sink")])
    with pytest.raises(SourceError, match=r"is a directory: give its files"):
        from_patterns([str(tmp_path)])
    # Readable by nobody, not even root: the kernel answers EIO.
    with pytest.raises(SourceError, match=r"cannot read /proc/self/mem: Input/output error"):
        from_patterns(["/proc/self/mem"])


def test_corrupt_gz_is_a_source_error(tmp_path):
    path = tmp_path / f"{STEM}-2021-01.sink-5.gz"
    data = "".join(f"{record(m % 60, n=os.urandom(8).hex())}\n" for m in range(2000))
    path.write_bytes(gzip.compress(data.encode())[:-100])
    with pytest.raises(SourceError, match=r"cannot read .*sink-5.gz"):
        scan([inspect(path)], everything(), MissingTimestamp.SKIP)


def test_damaged_deflate_data_in_a_gz_is_a_source_error_not_a_zlib_traceback(tmp_path):
    path = tmp_path / f"{STEM}-2021-01.sink-6.gz"
    data = bytearray(gzip.compress("".join(f"{record(m % 60)}\n" for m in range(2000)).encode()))
    data[12] ^= 0xFF  # inside the first block's Huffman tables, right after the 10-byte header
    path.write_bytes(data)
    with pytest.raises(SourceError, match=r"cannot read .*sink-6.gz: Error -3 while decompress"):
        scan([inspect(path)], everything(), MissingTimestamp.SKIP)


def test_snapshot_sources_pick_one_connector_in_rsnapshot_layout(tmp_path):
    root = tmp_path / "backup"
    base = root / "alpha.1" / "localhost" / "data" / "filesink"
    base.mkdir(parents=True)
    write(base / f"{STEM}-2021-01.sink", [record(1)])
    write(base / f"{STEM}-2020-12.sink-7.gz", [record(2)], gz=True)
    write(base / "other-local-file-sink-backup-2021-01.sink", [record(3)])
    (root / "alpha.0").mkdir()
    (root / "not-a-snapshot").mkdir()
    (root / "alpha.01").mkdir()  # never an rsnapshot name: restore ignores it, as retention does
    assert [s.name for s in snapshot_dirs(root)] == ["alpha.0", "alpha.1"]
    with pytest.raises(SourceError, match=r"'alpha\.01' is not a snapshot name"):
        from_snapshot(root, "alpha.01", STEM)
    files = from_snapshot(root, "alpha.1", STEM)
    assert [f.path.name for f in files] == [f"{STEM}-2020-12.sink-7.gz", f"{STEM}-2021-01.sink"]
    with pytest.raises(
        SourceError, match=r"snapshot alpha.7 not found in .* \(snapshots: alpha.0, alpha.1\)"
    ):
        from_snapshot(root, "alpha.7", STEM)
    with pytest.raises(
        SourceError,
        match=r"'latest' is not a snapshot name: use \{level\}\.N with a level of alpha, hourly",
    ):
        from_snapshot(root, "latest", STEM)
    with pytest.raises(SourceError, match=r"holds no sink file of connector"):
        from_snapshot(root, "alpha.0", STEM)
    with pytest.raises(SourceError, match=r"does not exist: mount the backup first"):
        from_snapshot(tmp_path / "unmounted", "alpha.0", STEM)
    assert Path(root).is_dir()


def test_scan_cache_sends_the_same_lines_and_respects_its_budget(tmp_path):
    small = write(tmp_path / f"{STEM}-2021-01.sink", [record(m) for m in range(40)])
    big = write(tmp_path / f"{STEM}-2021-02.sink", [record(m % 60, day=20) for m in range(400)])
    sources = from_patterns([str(small), str(big)])
    window = TimeFilter(TimeWindow(parse_time("2021-01-19T15:20"), None))
    uncached = scan(sources, window, MissingTimestamp.SKIP)
    cached = scan(sources, window, MissingTimestamp.SKIP, cache_bytes=1 << 20)
    assert len(cached.files) == len(uncached.files) == 2  # so the next two are not vacuous
    assert all(f.cached is not None for f in cached.files)
    assert all(f.cached is None for f in uncached.files)
    assert sent(cached) == sent(uncached) and len(sent(cached)) == 20 + 400
    # Room for the small file only: the big one is read again when sending.
    partial = scan(sources, window, MissingTimestamp.SKIP, cache_bytes=small.stat().st_size + 10)
    assert partial.files[0].cached is not None and partial.files[1].cached is None
    assert sent(partial) == sent(uncached)


def test_line_numbers_and_ranges_span_batches(tmp_path):
    """Batches are 4 MiB: line numbers in messages and send ranges are file-wide."""
    pad = "p" * 250
    late = write(
        tmp_path / "late.sink",
        [record(1, pad=pad)] * 20000 + ['{"no":1}'] + [record(2, pad=pad)] * 10000,
    )
    assert late.stat().st_size > 2 * (4 << 20)
    with pytest.raises(MissingTimestampError, match=r"late.sink line 20001 has no"):
        scan([inspect(late)], everything(), MissingTimestamp.FAIL)
    plan = scan([inspect(late)], everything(), MissingTimestamp.SKIP)
    assert plan.files[0].ranges == [(0, 20000), (20001, 30001)]
    assert len(sent(plan)) == 30000


def test_a_fifo_or_device_is_refused_not_waited_on(tmp_path: Path) -> None:
    fifo = tmp_path / "orders-bk-2021-01.sink"
    os.mkfifo(fifo)
    with pytest.raises(SourceError) as caught:
        inspect(fifo)
    assert str(caught.value) == f"{fifo} is a FIFO: give sink files (regular files) only"
    with pytest.raises(SourceError, match="is not a regular file"):
        inspect(Path("/dev/null"))


def _at(path: Path, when: str, text: str = '{"utcTime":"2026-03-01T00:00:00Z"}\n') -> Path:
    path.write_text(text)
    stamp = int(parse_time(when).timestamp())
    os.utime(path, (stamp, stamp))
    return path


@pytest.mark.parametrize(
    ("files", "written"),
    [
        pytest.param(
            # sinkFormat value -> envelope on March 10th: before, the envelope file came first.
            {"2026-03.sink": "2026-03-10T12:00", "2026-03.envelope.sink": "2026-03-20T00:00"},
            ["2026-03.sink", "2026-03.envelope.sink"],
            id="value-to-envelope",
        ),
        pytest.param(
            {"2026-03.envelope.sink": "2026-03-10T12:00", "2026-03.sink": "2026-03-20T00:00"},
            ["2026-03.envelope.sink", "2026-03.sink"],
            id="envelope-to-value",
        ),
        pytest.param(
            # sinkRotation daily -> monthly on March 2nd: before, the monthly file came first.
            {
                "2026-03-01.sink": "2026-03-02T00:00:05",  # its last write, just after midnight
                "2026-03-02.sink": "2026-03-02T09:00",
                "2026-03.sink": "2026-03-20T00:00",
                "2026-02-28.sink": "2026-03-01T00:00:01",
            },
            ["2026-02-28.sink", "2026-03-01.sink", "2026-03-02.sink", "2026-03.sink"],
            id="daily-to-monthly",
        ),
        pytest.param(
            {
                "2026-03.sink": "2026-03-02T09:00",
                "2026-03-02.sink": "2026-03-02T23:00",
                "2026-03-03.sink": "2026-03-03T23:00",
            },
            ["2026-03.sink", "2026-03-02.sink", "2026-03-03.sink"],
            id="monthly-to-daily",
        ),
        pytest.param(
            # sinkRotation daily -> hourly on March 2nd at 15:00, back to daily on March 3rd.
            {
                "2026-03-02.sink": "2026-03-02T15:00:04",
                "2026-03-02T15.sink": "2026-03-02T15:59:59",
                "2026-03-02T16.sink": "2026-03-02T23:00",
                "2026-03-02T23.sink": "2026-03-03T00:00:02",
                "2026-03-03.sink": "2026-03-03T12:00",
            },
            [
                "2026-03-02.sink",
                "2026-03-02T15.sink",
                "2026-03-02T16.sink",
                "2026-03-02T23.sink",
                "2026-03-03.sink",
            ],
            id="daily-to-hourly-and-back",
        ),
        pytest.param(
            # monthly -> hourly on March 20th at 08:00; the old hour compressed.
            {
                "2026-03.sink": "2026-03-20T08:00:01",
                "2026-03-20T08.sink-1774000000.gz": "2026-03-20T08:59",
                "2026-03-20T09.envelope.sink": "2026-03-20T09:10",
            },
            [
                "2026-03.sink",
                "2026-03-20T08.sink-1774000000.gz",
                "2026-03-20T09.envelope.sink",
            ],
            id="monthly-to-hourly",
        ),
        pytest.param(
            # Copied without their mtimes (all the copy's time): the periods' order still.
            {
                "2026-03.sink": "2026-12-01T00:00",
                "2026-03-02.sink": "2026-12-01T00:00",
                "2026-02.sink-1772323200.gz": "2026-12-01T00:00",
                "2026-03-01.sink": "2026-12-01T00:00",
                "2026-03.envelope.sink": "2026-12-01T00:00",
                "2026-03-01T23.sink": "2026-12-01T00:00",
            },
            [
                "2026-02.sink-1772323200.gz",
                "2026-03-01.sink",  # the same end as 2026-03-01T23: the earlier start first
                "2026-03-01T23.sink",
                "2026-03-02.sink",
                "2026-03.sink",
                "2026-03.envelope.sink",
            ],
            id="mtimes-lost",
        ),
    ],
)
def test_files_replay_in_the_order_they_were_written_across_switches(
    tmp_path: Path, files: dict[str, str], written: list[str]
) -> None:
    for suffix, when in files.items():
        _at(tmp_path / f"{STEM}-{suffix}", when)
    ordered = from_patterns([f"{tmp_path}/{STEM}-*"])
    assert [f.path.name.removeprefix(f"{STEM}-") for f in ordered] == written
