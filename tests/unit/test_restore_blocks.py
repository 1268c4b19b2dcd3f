"""The scan reads blocks of whole lines (sources.BlockBatches) and checks and caches them
unsplit: the blocks hold exactly the file's complete lines, in order, whatever the chunk size;
a block's UTF-8 check names the same line a per-line check does; the largest line to send is
the first of the longest kept ones."""

from pathlib import Path

import pytest

from kafka_connect_backup.kafka.timefilter import (
    MissingTimestamp,
    TimeFilter,
    TimeWindow,
    parse_time,
)
from kafka_connect_backup.restore.classify import largest_kept
from kafka_connect_backup.restore.plan import _check_utf8, check_utf8_block, scan
from kafka_connect_backup.restore.replay import planned_segments
from kafka_connect_backup.restore.sources import (
    BlockBatches,
    LineBatches,
    SourceError,
    block_lines,
    inspect,
)

pytestmark = pytest.mark.unit


def lines_file(path: Path, count: int, torn: bytes = b"") -> tuple[Path, list[bytes]]:
    lines = [f'{{"utcTime":"2021-01-01T00:00:{i % 60:02d}Z","n":"{"x" * (i % 13)}"}}'.encode()
             for i in range(count)]  # fmt: skip
    path.write_bytes(b"".join(line + b"\n" for line in lines) + torn)
    return path, lines


@pytest.mark.parametrize("chunk_size", [1, 7, 64, 1000, 1 << 20])
def test_blocks_hold_the_complete_lines_in_order(tmp_path, chunk_size):
    path, lines = lines_file(tmp_path / "a.sink", 200, torn=b'{"utcTime":')
    blocks = BlockBatches(inspect(path), chunk_size)
    got = list(blocks)
    assert all(block.endswith(b"\n") for block in got)
    assert [line for block in got for line in block_lines(block)] == lines
    assert sum(block.count(b"\n") for block in got) == 200
    assert blocks.torn == b'{"utcTime":'
    assert blocks.identity is not None
    # LineBatches is the same blocks split into lines, with each block's size.
    batches = LineBatches(inspect(path), chunk_size)
    sizes = []
    for batch in batches:
        sizes.append(batches.last_batch_bytes)
        assert sum(len(line) + 1 for line in batch) == sizes[-1]
    assert sizes == [len(block) for block in got] and batches.torn == b'{"utcTime":'


def test_a_line_longer_than_the_chunk_ends_the_block_of_the_chunk_it_ends_in(tmp_path):
    path = tmp_path / "long.sink"
    path.write_bytes(b"a" * 50 + b"\nb\ncc" + b"d" * 10 + b"\n")
    # Chunks of 8: the 7th holds "aa\nb\ncc", so the block ends after "b".
    assert list(BlockBatches(inspect(path), 8)) == [b"a" * 50 + b"\nb\n", b"cc" + b"d" * 10 + b"\n"]


def test_empty_file_and_file_without_newline(tmp_path):
    empty = tmp_path / "empty.sink"
    empty.write_bytes(b"")
    blocks = BlockBatches(inspect(empty))
    assert list(blocks) == [] and blocks.torn is None
    torn = tmp_path / "torn.sink"
    torn.write_bytes(b"no newline")
    blocks = BlockBatches(inspect(torn), 4)
    assert list(blocks) == [] and blocks.torn == b"no newline"


@pytest.mark.parametrize(
    "lines",
    [
        [b"ascii", "caf\u00e9".encode(), b"ok"],  # valid UTF-8
        [b"ok", b"bad \xff byte", b"also \xfe"],
        [b"ok", "trunc\u00e9".encode()[:-1], b"next"],  # a sequence cut by the newline
        [b"\xc3", b"\xa9"],  # the halves of one character on two lines
    ],
)
def test_block_utf8_check_names_the_line_the_per_line_check_names(tmp_path, lines):
    path = tmp_path / "u.sink"
    block = b"".join(line + b"\n" for line in lines)
    path.write_bytes(block)
    source = inspect(path)

    def outcome(check) -> str | None:
        try:
            check()
        except SourceError as exc:
            return str(exc)
        return None

    per_line = outcome(lambda: _check_utf8(source, lines, 10))
    assert outcome(lambda: check_utf8_block(source, block, 10)) == per_line
    if lines[0] == b"ascii":
        assert per_line is None
    else:
        assert per_line is not None and "line 1" in per_line


def test_largest_kept_is_the_first_longest_line_to_send():
    lines = [b"aa", b"bbbb", b"cc", b"dddd", b"eeeeee"]
    assert largest_kept(lines, b"\x01\x01\x01\x01\x01") == (6, 4)
    assert largest_kept(lines, b"\x01\x01\x01\x01\x00") == (4, 1)  # the longest is skipped
    assert largest_kept(lines, b"\x00\x00\x01\x01\x00") == (4, 3)
    assert largest_kept(lines, b"\x00\x00\x00\x00\x00") == (0, -1)
    assert largest_kept([b"", b""], b"\x01\x01") == (0, -1)
    assert largest_kept([], b"") == (0, -1)


def test_cached_blocks_send_the_lines_a_reread_sends(tmp_path):
    path, lines = lines_file(tmp_path / "c.sink", 500, torn=b"{")
    window = TimeFilter(TimeWindow(parse_time("2021-01-01T00:00:30"), None))
    cached = scan([inspect(path)], window, MissingTimestamp.SKIP, cache_bytes=1 << 20)
    reread = scan([inspect(path)], window, MissingTimestamp.SKIP)
    assert cached.files[0].cached is not None and reread.files[0].cached is None
    kept = [line for i, line in enumerate(lines) if i % 60 >= 30]
    for plan in (cached, reread):
        assert [line for seg in planned_segments(plan.files[0]) for line in seg] == kept
    assert cached.files[0].largest == max(map(len, kept))
