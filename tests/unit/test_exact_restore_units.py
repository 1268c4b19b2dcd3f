"""Exact restores' selection and routing on envelope lines (restore/exact.py through the
restore's own scan): time by record timestamp or a value field, --from-offset, duplicates
skipped, routing by partition or by key (Kafka's murmur2), the group mappings, and the
one-line refusals before anything is sent."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kafka_connect_backup.kafka.envelope import encode_bytes
from kafka_connect_backup.kafka.partitioner import key_partition, murmur2, signed
from kafka_connect_backup.kafka.timefilter import (
    EARLIEST,
    LATEST,
    FieldReader,
    MissingTimestamp,
    TimeFilter,
    TimeWindow,
)
from kafka_connect_backup.kafka.topic_metadata import TopicMetadata, write_metadata
from kafka_connect_backup.restore.cli import main as restore
from kafka_connect_backup.restore.exact import ExactState, Routing, parse_from_offsets
from kafka_connect_backup.restore.plan import scan
from kafka_connect_backup.restore.sources import SourceError, from_patterns

pytestmark = pytest.mark.unit

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def line(partition: int, offset: int, key: bytes | None = b"k", value: bytes | None = b"{}") -> str:
    return json.dumps(
        {
            "timestamp": T0 + offset * 1000,
            "timestampType": "CreateTime",
            "partition": partition,
            "offset": offset,
            "key": encode_bytes(key),
            "value": encode_bytes(value),
            "headers": [],
        }
    )


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(f"{item}\n" for item in lines))
    return path


def test_kafka_murmur2_test_vectors() -> None:
    # Kafka's UtilsTest.testMurmur2 (the Java client's default partitioner hashes with it).
    cases = {
        "21": -973932308,
        "foobar": -790332482,
        "a-little-bit-long-string": -985981536,
        "a-little-bit-longer-string": -1486304829,
        "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
        "abc": 479470107,
    }
    assert {k: signed(murmur2(k.encode())) for k in cases} == cases
    assert 0 <= key_partition(b"foobar", 7) < 7


def test_from_offsets_parse_and_refuse() -> None:
    assert parse_from_offsets(["0:10,2:5", "1:0"]) == {0: 10, 2: 5, 1: 0}
    with pytest.raises(ValueError, match=r"--from-offset 'x:1' is not PARTITION:OFFSET"):
        parse_from_offsets(["x:1"])
    with pytest.raises(ValueError, match="names partition 0 twice"):
        parse_from_offsets(["0:1", "0:2"])
    with pytest.raises(ValueError, match=r"beyond Kafka's numbers \(partition at most 2147483647"):
        parse_from_offsets(["2147483648:0"])


def test_a_from_offset_partition_the_source_lacks_is_refused(tmp_path: Path, capsys) -> None:
    write(tmp_path / "t-s-2026-01.envelope.sink", [line(0, 0), line(1, 0)])
    files = str(tmp_path / "*.sink")
    code, out, err = run(capsys, "t", "localhost:1", files, "--from-offset", "7:0", "--dry-run")
    assert code == 2, out
    assert err == (
        "restore.py: error: --from-offset names partition 7, which the source does not have "
        "(its files hold partitions 0, 1): name those partitions only; nothing was sent\n"
    )
    write_metadata(tmp_path, "s", TopicMetadata("t", datetime(2026, 1, 2, tzinfo=UTC), 2, 1, {}))
    code, _, err = run(capsys, "t", "localhost:1", files, "--from-offset", "1:0,2:0", "--dry-run")
    assert code == 2
    assert "names partition 2, which the source does not have (its metadata file says 2 " in err


def test_a_record_claiming_a_partition_beyond_kafka_is_refused_by_file_and_line(
    tmp_path: Path, capsys
) -> None:
    # It used to make the whole restore fall back to key routing without a word.
    path = write(tmp_path / "t-s-2026-01.envelope.sink", [line(0, 0), line(5_000_000_000, 1)])
    code, _, err = run(capsys, "t", "localhost:1", str(path), "--from-offset", "0:0", "--dry-run")
    assert code == 2
    assert err.startswith(
        f"restore.py: error: {path} line 2 is not an envelope line (partition: 5000000000 is "
        "beyond Kafka's range (at most 2147483647))"
    )


def test_selection_duplicates_offsets_window_and_group_positions(tmp_path: Path) -> None:
    first = write(
        tmp_path / "t-s-2026-01.envelope.sink",
        [line(0, 0), line(1, 0), line(0, 1), line(0, 2), line(1, 1)],
    )
    # A crashed task's redelivery: offsets 1, 2 of partition 0 again, then new ones.
    write(tmp_path / "t-s-2026-02.envelope.sink", [line(0, 1), line(0, 2), line(0, 3), line(1, 2)])
    sources = from_patterns([str(tmp_path / "*.sink")])
    assert sources[0].path == first
    start = datetime.fromtimestamp((T0 + 1000) / 1000, UTC)  # drops offset 0 of both
    state = ExactState(
        start,
        LATEST,
        None,
        {1: 2},  # partition 1 from offset 2
        Routing(2, True),
        {"g": {0: 3, 1: 2}, "done": {0: 9, 1: 9}},
    )
    window = TimeWindow(start, None)
    plan = scan(sources, TimeFilter(window), MissingTimestamp.SKIP, exact=state)
    assert [f.ranges for f in plan.files] == [[(2, 4)], [(2, 4)]]
    assert plan.skipped == {
        "duplicate_offset": 2,
        "before_from": 1,
        "before_from_offset": 2,
    }
    assert state.counts == {0: 3, 1: 1}  # partition 0: offsets 1, 2, 3; partition 1: 2
    # g had consumed partition 0 before offset 3 (restored 1, 2 -> positions 0, 1: it resumes
    # at 2, the restored offset 3) and partition 1 before 2 (nothing of it consumed).
    assert state.positions("g") == {0: 2, 1: 0}
    assert state.positions("done", [10, 20]) == {0: 13, 1: 21}


def test_by_key_routing_places_every_key_as_a_java_producer_would(tmp_path: Path) -> None:
    keys = [f"key-{i}".encode() for i in range(20)]
    write(
        tmp_path / "t-s-2026-01.envelope.sink",
        [line(0, i, key) for i, key in enumerate(keys)] + [line(1, 0, None)],
    )
    state = ExactState(EARLIEST, LATEST, None, {}, Routing(4, False), {"g": {0: 10}})
    scan(from_patterns([str(tmp_path / "*.sink")]), TimeFilter(TimeWindow(None, None)),
         MissingTimestamp.SKIP, exact=state)  # fmt: skip
    expected: dict[int, int] = {}
    for key in keys:
        expected[key_partition(key, 4)] = expected.get(key_partition(key, 4), 0) + 1
    expected[1] = expected.get(1, 0) + 1  # the null key keeps partition 1 (1 % 4)
    assert dict(state.counts) == expected
    # Per target partition: the first record of partition 0 from offset 10 on, or the
    # partition-1 record (no commit there), else the end.
    positions = state.positions("g")
    assert sorted(positions) == [0, 1, 2, 3]
    for target, position in positions.items():
        assert 0 <= position <= state.counts[target]


def test_a_value_field_selects_instead_of_the_record_timestamp(tmp_path: Path) -> None:
    write(
        tmp_path / "t-s-2026-01.envelope.sink",
        [line(0, 0, value=b'{"at":"2020-01-01T00:00Z"}'), line(0, 1, value=b'{"at":"2030-01-01"}')],
    )
    state = ExactState(
        datetime(2025, 1, 1, tzinfo=UTC), LATEST, FieldReader("at"), {}, Routing(1, True)
    )
    plan = scan(from_patterns([str(tmp_path / "*.sink")]), TimeFilter(TimeWindow(None, None)),
                MissingTimestamp.SKIP, exact=state)  # fmt: skip
    assert plan.files[0].ranges == [(1, 2)]


def test_a_broken_envelope_line_is_one_error_naming_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path / "t-s-2026-01.envelope.sink", [line(0, 0), '{"utcTime":"x"}'])
    with pytest.raises(SourceError, match=rf"{path} line 2 is not an envelope line"):
        scan(from_patterns([str(path)]), TimeFilter(TimeWindow(None, None)),
             MissingTimestamp.SKIP)  # fmt: skip


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = restore(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_refusals_before_anything_is_sent(tmp_path: Path, capsys) -> None:
    value = write(tmp_path / "t-s-2026-01.sink", ['{"utcTime":"2026-01-01T00:00Z"}'])
    code, _, err = run(capsys, "t", "localhost:1", str(value), "--from-offset", "0:5", "--dry-run")
    assert code == 2 and err.startswith("restore.py: error: --from-offset needs envelope files")
    code, _, err = run(capsys, "t", "localhost:1", str(value), "--from-offset", "0-5")
    assert code == 2 and "--from-offset '0-5' is not PARTITION:OFFSET" in err
    code, _, err = run(capsys, "t", "localhost:1", str(value), "2026-01-01", "--restore-groups")
    assert code == 2 and "--restore-groups applies to the runbook" in err
    assert len(err.strip().splitlines()) == 1


def test_dry_run_plan_shows_metadata_routing_and_window(tmp_path: Path, capsys) -> None:
    write(tmp_path / "t-s-2026-01.envelope.sink", [line(0, 0), line(1, 0), line(2, 5)])
    write_metadata(
        tmp_path,
        "s",
        TopicMetadata("t", datetime(2026, 1, 2, tzinfo=UTC), 3, 1, {"cleanup.policy": "compact"}),
    )
    code, out, _ = run(
        capsys, "t", "localhost:1", str(tmp_path / "*.sink"), "--from-offset", "2:0", "--dry-run",
        "--partitions", "3",
    )  # fmt: skip
    assert code == 0, out
    assert (
        "window:  from the first record (inclusive) to the last record, by the record timestamps"
        in out
    )
    assert f"metadata: {tmp_path}/t-s.topic.json (read 2026-01-02T00:00:00Z): 3 partitions" in out
    assert "configs cleanup.policy=compact" in out
    assert "routing: each record into its own partition" in out
    assert "  records per target partition: 0:1, 1:1, 2:1" in out


def test_without_any_time_bound_a_record_without_timestamp_is_kept(tmp_path: Path) -> None:
    lines = [line(0, 0), line(0, 1).replace(f'"timestamp": {T0 + 1000}', '"timestamp": null')]
    lines[1] = lines[1].replace('"CreateTime"', '"NoTimestampType"')
    write(tmp_path / "t-s-2026-01.envelope.sink", lines)
    sources = from_patterns([str(tmp_path / "*.sink")])
    everything = TimeFilter(TimeWindow(None, None))
    state = ExactState(EARLIEST, LATEST, None, {0: 0}, Routing(1, True))
    assert scan(sources, everything, MissingTimestamp.SKIP, exact=state).matched == 2
    since = datetime(1970, 1, 1, tzinfo=UTC)
    state = ExactState(since, LATEST, None, {}, Routing(1, True))
    plan = scan(sources, TimeFilter(TimeWindow(since, None)), MissingTimestamp.SKIP, exact=state)
    assert plan.matched == 1 and plan.skipped == {"missing_timestamp": 1}


def test_dry_run_takes_a_time_no_clock_can_show_as_an_unreadable_time(
    tmp_path: Path, capsys
) -> None:
    # A producer's timestamp in microseconds by mistake (2026-12-01: the year 58885).
    future = line(0, 1).replace(f'"timestamp": {T0 + 1000}', '"timestamp": 1796083200000000')
    path = write(tmp_path / "t-s-2026-01.envelope.sink", [line(0, 0), future, line(0, 2)])
    args = ("t", "localhost:1", str(path), "2025-12-01", "--dry-run", "--missing-timestamp")
    code, out, _ = run(capsys, *args, "skip")
    assert code == 0, out
    assert "records: 3 read, 2 to send, 1 skipped (missing_timestamp 1)" in out
    assert f"{path}: 3 lines, 2 to send, records 2026-01-01T00:00:00Z .. 2026-01-01T00:00:02Z" in (
        out
    )
    code, out, _ = run(capsys, *args, "include")
    assert code == 0 and "records: 3 read, 3 to send, 0 skipped" in out
    code, out, err = run(capsys, *args, "fail")
    assert code == 2, out
    assert err.startswith(
        f"restore.py: error: {path} line 2 has no readable 'record timestamp' time "
        '(--missing-timestamp fail): {"timestamp": 1796083200000000, '
    )


def test_the_switch_to_key_routing_says_which_record_caused_it(tmp_path: Path, capsys) -> None:
    """No metadata file and a partition the target lacks: by key, and the plan says why (it
    said only "by key", as if the counts had differed)."""
    write(tmp_path / "t-s-2026-01.envelope.sink", [line(0, 0), line(3, 7)])
    code, out, _ = run(
        capsys, "t", "localhost:1", str(tmp_path / "*.sink"), "--from-offset", "0:0",
        "--dry-run", "--partitions", "2",
    )  # fmt: skip
    assert code == 0, out
    assert (
        "routing: by key over the target's 2 partitions (murmur2, as a Java producer; a null "
        "key: its partition modulo the count): the files hold partition 3 (offset 7), which "
        "the target's 2 partitions lack, and no metadata file gives the source's count"
    ) in out


def test_from_offset_with_value_files_among_the_sources_is_refused(tmp_path: Path, capsys) -> None:
    """Before, `--from-offset 0:101` over mixed files replayed every value record after the
    envelope ones, without a word."""
    value = write(tmp_path / "t-s-2026-01.sink", ['{"utcTime":"2026-01-01T00:00Z"}'])
    os.utime(value, (T0 // 1000 + 60, T0 // 1000 + 60))
    write(tmp_path / "t-s-2026-01.envelope.sink", [line(0, 101), line(0, 102)])
    code, out, err = run(
        capsys, "t", "localhost:1", str(tmp_path / "*.sink"), "--from-offset", "0:101",
        "--dry-run",
    )  # fmt: skip
    assert code == 2, out
    assert err == (
        "restore.py: error: --from-offset picks envelope records by their offsets, but value "
        "files are among the sources (t-s-2026-01.sink): their records carry no offsets, so "
        "every one would be replayed; give only the *.envelope.sink* files with --from-offset, "
        "or use the from time instead; nothing was sent\n"
    )
    code, out, _ = run(
        capsys, "t", "localhost:1", str(tmp_path / "*.envelope.sink"), "--from-offset", "0:102",
        "--dry-run",
    )  # fmt: skip
    assert code == 0 and "records: 2 read, 1 to send, 1 skipped (before_from_offset 1)" in out


def _metadata_file(directory: Path, **fields: object) -> Path:
    data = {"format": "kcb-topic-metadata", "version": 1, "topic": "t",
            "time": "2026-01-02T00:00:00Z", "partitions": 3, "replicationFactor": 1,
            "configs": {}, "groups": {}, **fields}  # fmt: skip
    path = directory / "t-s.topic.json"
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"partitions": 2**40}, "partitions must be an integer from 1 to 1000000, got 1.1e+12"),
        ({"partitions": 1_000_001}, "partitions must be an integer from 1 to 1000000, got 1000001"),
        (
            {"replicationFactor": 2**15},
            "replicationFactor must be an integer from 1 to 32767, got 32768",
        ),
    ],
)
def test_a_metadata_file_with_counts_past_kafkas_is_refused_at_once(
    tmp_path: Path, capsys, fields: dict[str, object], says: str
) -> None:
    """Before, partitions 2**40 hung the dry run (a plan line per target partition)."""
    write(tmp_path / "t-s-2026-01.envelope.sink", [line(0, 0)])
    path = _metadata_file(tmp_path, **fields)
    code, _, err = run(
        capsys, "t", "127.0.0.1:9", str(tmp_path / "*.sink"), "--from", "2026-01-01",
        "--dry-run", "--create-topic",
    )  # fmt: skip
    assert code == 2
    assert err == (
        f"restore.py: error: {path}: {says}; move it away to restore without it; nothing was sent\n"
    )


def test_the_metadata_file_of_another_topic_is_refused(tmp_path: Path, capsys) -> None:
    """A `.topic.json` copied from another topic: before, its partitions, configs and groups
    were used silently."""
    write(tmp_path / "t-s-2026-01.envelope.sink", [line(0, 0)])
    path = _metadata_file(tmp_path, topic="payments", configs={"cleanup.policy": "compact"})
    code, _, err = run(
        capsys, "t", "127.0.0.1:9", str(tmp_path / "*.sink"), "--from", "2026-01-01",
        "--dry-run",
    )  # fmt: skip
    assert code == 2
    assert err == (
        f"restore.py: error: {path} holds the metadata of topic 'payments', not of the files' "
        "t-s (their topic's connector): move it away to restore without it, or put the right "
        "t-s.topic.json there; nothing was sent\n"
    )


def test_a_header_name_that_is_not_unicode_is_refused_by_the_scan(tmp_path: Path) -> None:
    """A lone surrogate in a header name (a JSON \\udc80 escape): before, the plan passed it
    and the send failed as "changed after the scan"."""
    bad = line(0, 1).replace('"headers": []', '"headers": [["tr\\udc80ce", "a"]]')
    path = write(tmp_path / "t-s-2026-01.envelope.sink", [line(0, 0), bad])
    with pytest.raises(SourceError) as refused:
        scan(from_patterns([str(path)]), TimeFilter(TimeWindow(None, None)),
             MissingTimestamp.SKIP)  # fmt: skip
    assert str(refused.value).startswith(
        f"{path} line 2 is not an envelope line (headers.0: the name 'tr\\udc80ce' is text that "
        "is not valid Unicode (Kafka header names are UTF-8 strings))"
    )


def test_restore_groups_after_a_switch_back_to_value_files_is_refused(
    tmp_path: Path, capsys
) -> None:
    """Value records written after the envelope ones carry no offsets: no saved group
    offset can be mapped past them."""
    envelope = write(tmp_path / "t-s-2026-01.envelope.sink", [line(0, 0)])
    value = write(tmp_path / "t-s-2026-01.sink", ['{"utcTime":"2026-01-20T00:00Z"}'])
    os.utime(envelope, (T0 // 1000 + 60, T0 // 1000 + 60))
    os.utime(value, (T0 // 1000 + 7200, T0 // 1000 + 7200))
    code, _, err = run(
        capsys, "t", "127.0.0.1:9", str(tmp_path / "*.sink"), "--from", "2026-01-01",
        "--sink-path", str(tmp_path / "live"), "--step", "replay", "--restore-groups",
        "--dry-run",
    )  # fmt: skip
    assert code == 2
    assert err == (
        "restore.py: error: --restore-groups: the value files t-s-2026-01.sink were written "
        "after the envelope file t-s-2026-01.envelope.sink (sinkFormat switched back to value): "
        "their records carry no offsets, so the saved group offsets cannot be mapped past them; "
        "restore the groups from files up to the switch back (give them as restore_files), or "
        "leave out --restore-groups; nothing was sent\n"
    )
