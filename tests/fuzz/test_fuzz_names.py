"""File and directory names read back from disk: sink files (layout/sinkfiles.py) and rsnapshot's
`alpha.N` directories (layout/snapshot_dirs.py)."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from kafka_connect_backup.config import SinkRotation
from kafka_connect_backup.layout.names import ALL_LEVELS
from kafka_connect_backup.layout.sinkfiles import (
    compressed_name,
    connector_name,
    parse_sink_file,
    period_of,
    period_span,
    sink_file,
    sort_key,
)
from kafka_connect_backup.layout.snapshot_dirs import parse_snapshot_name, snapshot_dirs

pytestmark = pytest.mark.fuzz

NAME_CHARS = st.sampled_from("abcxyzABC0123456789._-")
TOPICS = st.text(NAME_CHARS, min_size=1, max_size=30).filter(lambda t: t not in (".", ".."))
SINK_NAMES = st.text(NAME_CHARS, min_size=1, max_size=20)
MOMENTS = st.datetimes(min_value=datetime.min, max_value=datetime.max)
ROTATIONS = st.sampled_from(list(SinkRotation))
EPOCHS = st.one_of(st.none(), st.integers(min_value=0, max_value=10**12))
SINK_PATH = Path("/data/filesink")
HOUR = timedelta(hours=1)


def written(
    topic: str, sink_name: str, moment: datetime, rotation: SinkRotation, epoch: int | None
):
    path = sink_file(SINK_PATH, topic, sink_name, period_of(moment, rotation))
    return path if epoch is None else compressed_name(path, epoch)


@given(topic=TOPICS, sink_name=SINK_NAMES, moment=MOMENTS, rotation=ROTATIONS, epoch=EPOCHS)
@example(
    topic="t", sink_name="s", moment=datetime(999, 1, 2), rotation=SinkRotation.DAILY, epoch=None
)
@example(
    topic="a-2021-01", sink_name="2021-01-02", moment=datetime(2021, 3, 4),
    rotation=SinkRotation.MONTHLY, epoch=7,
)  # fmt: skip
@example(
    topic="t-2021-01-02", sink_name="2021-01-02T03", moment=datetime(2021, 3, 4, 5),
    rotation=SinkRotation.HOURLY, epoch=None,
)  # fmt: skip
def test_a_written_sink_file_name_parses_back_to_its_parts(
    topic: str, sink_name: str, moment: datetime, rotation: SinkRotation, epoch: int | None
) -> None:
    """format -> parse, for every topic and sink name Kafka and the config allow (dashes and
    digits in them included) and every year (period_of once wrote year 999 as '999')."""
    path = written(topic, sink_name, moment, rotation, epoch)
    parsed = parse_sink_file(path)
    assert parsed is not None
    assert parsed.stem == connector_name(topic, sink_name)
    assert parsed.period == period_of(moment, rotation)
    assert parsed.epoch == epoch and parsed.compressed == (epoch is not None)


def reference_parse(name: str) -> tuple[str, str, int | None] | None:
    """A plain reading of the naming rule, without a regex: `{stem}-{period}.sink` or
    `{stem}-{period}.sink-{epoch}.gz`, period YYYY-MM, YYYY-MM-DD or YYYY-MM-DDTHH in ASCII
    digits, the longest stem winning."""

    def digits(text: str) -> bool:
        return text != "" and all("0" <= c <= "9" for c in text)

    epoch: int | None = None
    if name.endswith(".sink"):
        base = name[: -len(".sink")]
    elif name.endswith(".gz") and ".sink-" in name:
        base, _, tail = name[: -len(".gz")].rpartition(".sink-")
        if not digits(tail):
            return None
        epoch = int(tail)
    else:
        return None
    for size in (7, 10, 13):  # YYYY-MM first: the longest stem
        period, stem = base[-size:], base[: -size - 1]
        date, hour = (period[:-3], period[-2:]) if size == 13 else (period, "00")
        parts = date.split("-")
        if (
            len(base) > size + 1
            and base[-size - 1] == "-"
            and (size < 13 or period[-3] == "T")
            and [len(p) for p in parts] == [4, 2, 2][: len(parts)]
            and all(digits(p) for p in [*parts, hour])
            and len(hour) == 2
        ):
            return stem, period, epoch
    return None


_NAME_PARTS = st.sampled_from(
    ["a", "-", "2021", "-01", "-02", "T03", "T", "t03", ".sink", "-1611", ".gz", "\u0662\u0660",
     "\n", ".", "0"]
)  # fmt: skip


@given(name=st.one_of(st.text(max_size=30), st.lists(_NAME_PARTS, max_size=9).map("".join)))
@example(name="orders-sink-2021-01.sink\n")
@example(name="orders-sink-\u0662\u0660\u0662\u0661-\u0660\u0661.sink")
@example(name="orders-sink-2021-01.sink-\u0661\u0666.gz")
@example(name="orders-sink-2021-01-02T03.sink")
@example(name="orders-sink-2021-01-02T\u0660\u0663.sink")
@example(name="orders-sink-2021-01T03.sink")
def test_any_file_name_is_read_as_the_plain_rule_reads_it(name: str) -> None:
    """parse_sink_file against a regex-free reading of the rule, on any name: a file name
    with a trailing newline or with non-ASCII digits is no sink file (the regex took both)."""
    if "/" in name or name in ("", ".", ".."):
        return
    parsed = parse_sink_file(Path(name))
    got = None if parsed is None else (parsed.stem, parsed.period, parsed.epoch)
    assert got == reference_parse(name)


@given(
    stem=st.tuples(TOPICS, SINK_NAMES),
    moments=st.lists(st.tuples(MOMENTS, EPOCHS), min_size=2, max_size=6),
    rotation=ROTATIONS,
)
def test_sink_files_sort_in_time_order(
    stem: tuple[str, str], moments: list[tuple[datetime, int | None]], rotation: SinkRotation
) -> None:
    """Restore replays one connector's files in sort_key order: by period, oldest first."""
    files = [parse_sink_file(written(*stem, m, rotation, e)) for m, e in moments]
    periods = [f.period for f in sorted((f for f in files if f), key=sort_key)]
    assert periods == sorted(period_of(m, rotation) for m, _ in moments)


@given(
    stem=st.tuples(TOPICS, SINK_NAMES),
    moment=MOMENTS,
    rotation=ROTATIONS,
    epoch=EPOCHS,
)
def test_a_name_reads_only_as_the_rotation_it_was_written_in(
    stem: tuple[str, str], moment: datetime, rotation: SinkRotation, epoch: int | None
) -> None:
    """An hourly name never parses as a daily or monthly one (of another stem), nor the other
    way round: the period's shape says its rotation, and its span holds the moment."""
    parsed = parse_sink_file(written(*stem, moment, rotation, epoch))
    assert parsed is not None and parsed.stem == connector_name(*stem)
    shapes = {SinkRotation.MONTHLY: 7, SinkRotation.DAILY: 10, SinkRotation.HOURLY: 13}
    assert len(parsed.period) == shapes[rotation]
    start, end = period_span(parsed.period)
    assert start <= moment.replace(tzinfo=UTC) < end or end == datetime.max.replace(tzinfo=UTC)


@given(moments=st.lists(MOMENTS, min_size=2, max_size=6))
def test_hourly_periods_sort_as_their_moments_do(moments: list[datetime]) -> None:
    """The names' text order is the time order (the hours of one day, the days of a year...),
    and period_span gives the hour that holds the moment."""
    periods = [period_of(m, SinkRotation.HOURLY) for m in moments]
    assert sorted(periods) == [period_of(m, SinkRotation.HOURLY) for m in sorted(moments)]
    for moment, period in zip(moments, periods, strict=True):
        start, end = period_span(period)
        hour = moment.replace(minute=0, second=0, microsecond=0, tzinfo=UTC)
        last = hour == datetime.max.replace(minute=0, second=0, microsecond=0, tzinfo=UTC)
        assert (start, end) == (hour, datetime.max.replace(tzinfo=UTC) if last else hour + HOUR)


# -- alpha.N -------------------------------------------------------------------------------


@given(level=st.sampled_from(ALL_LEVELS), index=st.integers(min_value=0, max_value=10**6))
def test_level_n_parses_to_level_and_n(level: str, index: int) -> None:
    assert parse_snapshot_name(f"{level}.{index}") == (level, index)


@given(name=st.one_of(st.text(max_size=12), st.text("alph.0129\n ", max_size=10)))
@example(name="alpha.1\n")
@example(name="alpha.\u0663")
@example(name="alpha.01")
def test_only_the_canonical_alpha_n_is_a_snapshot(name: str) -> None:
    """A name is a snapshot exactly when it is `alpha.` and N as rsnapshot writes it (no
    leading zero, ASCII digits, nothing after: `alpha.1\\n` once counted as alpha.1)."""
    parsed = parse_snapshot_name(name)
    level, _, n = name.partition(".")
    canonical = level in ALL_LEVELS and n.isascii() and n.isdigit() and str(int(n)) == n
    assert (parsed is not None) == canonical
    if parsed is not None:
        assert f"{parsed[0]}.{parsed[1]}" == name


@given(
    names=st.sets(
        st.one_of(
            st.integers(min_value=0, max_value=30).map(lambda n: f"alpha.{n}"),
            st.integers(min_value=0, max_value=30).map(lambda n: f"daily.{n}"),
            st.sampled_from(["alpha.01", "alpha.x", "beta.1", "_delete.9", "alpha.1.tmp"]),
        ),
        max_size=10,
    ),
    files=st.sets(st.integers(min_value=0, max_value=30).map(lambda n: f"alpha.{n}"), max_size=3),
)
def test_snapshot_dirs_lists_alpha_directories_newest_first(
    names: set[str], files: set[str]
) -> None:
    """Level order (alpha before daily), then numeric order (alpha.2 before alpha.10),
    directories only, other names ignored."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name in names:
            (root / name).mkdir()
        for name in files - names:
            (root / name).write_text("a file, not a snapshot")
        listed = snapshot_dirs(root)
    expected = sorted(
        (p for p in map(parse_snapshot_name, names) if p is not None),
        key=lambda p: (ALL_LEVELS.index(p[0]), p[1]),
    )
    assert [(s.level, s.index) for s in listed] == expected
    assert [s.name for s in listed] == [f"{level}.{i}" for level, i in expected]
