"""Hostile envelope lines and topic metadata files (`.topic.json`): timestamps no clock can show,
partitions and offsets at and past Kafka's limits, numbers beyond 64 bits, lone surrogates,
deep nesting, wrong types, another topic's metadata. envelope.parse_line and
topic_metadata.read_metadata either accept with sane values (what Kafka can hold, times a
datetime can show, text that encodes) or raise their clean error (EnvelopeError,
MetadataError), never another exception."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from kafka_connect_backup.core.config_basics import is_topic_name
from kafka_connect_backup.kafka.envelope import (
    FIELDS,
    MAX_LONG,
    MAX_PARTITION,
    EnvelopeError,
    encode_bytes,
    parse_line,
)
from kafka_connect_backup.kafka.topic_metadata import (
    FORMAT,
    MAX_REPLICATION_FACTOR,
    VERSION,
    MetadataError,
    TopicMetadata,
    find_metadata,
    read_metadata,
    write_metadata,
)
from kafka_connect_backup.layout.sinkfiles import metadata_name
from kafka_connect_backup.restore.exact import Routing
from kafka_connect_backup.restore.replay import envelope_records

pytestmark = pytest.mark.fuzz

# Integers around every limit that matters: 0, int32, int64, a datetime's last millisecond.
LIMITS = [0, 1, MAX_PARTITION, MAX_PARTITION + 1, MAX_LONG, MAX_LONG + 1, 2**64, 253402300799999]
INTEGERS = st.one_of(
    st.sampled_from(LIMITS),
    st.sampled_from(LIMITS).map(lambda n: -n),
    st.integers(),
    st.integers(-(2**80), 2**80),
)
# Text with lone surrogates (json.dumps writes them as \udXXX escapes, as a damaged file may).
TEXT = st.one_of(
    st.text(max_size=8),
    st.text(st.characters(codec=None, categories=["Cs"]), min_size=1, max_size=2),
    st.sampled_from(["orders", "", " ", "a" * 250, "\ud800", "x\udfff"]),
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    INTEGERS,
    st.floats(),  # NaN and infinities too: json.dumps writes NaN / Infinity
    TEXT,
)
ANY_JSON = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(TEXT, inner, max_size=3)),
    max_leaves=6,
)
BYTES_FIELD = st.one_of(
    st.none(),
    TEXT,
    st.binary(max_size=8).map(encode_bytes),
    st.fixed_dictionaries({"b64": TEXT}),
    ANY_JSON,
)


def dumps(value: Any) -> bytes:
    """What a damaged or hand-made file may hold: standard JSON, plus NaN / Infinity, lone
    surrogates as escapes (ensure_ascii)."""
    return json.dumps(value).encode()


def assert_sane_record(line: bytes) -> None:
    try:
        record = parse_line(line)
    except EnvelopeError:
        return
    assert 0 <= record.partition <= MAX_PARTITION
    assert 0 <= record.offset <= MAX_LONG
    assert record.timestamp is None or 0 <= record.timestamp <= MAX_LONG
    moment = record.time  # a time no clock can show is None, never an error
    assert moment is None or moment.tzinfo is UTC
    for name, _ in record.headers:
        name.encode("utf-8")  # a producer sends it as UTF-8
    # The send's fast reader takes every line the scan accepted.
    [sent] = envelope_records([line], Routing(MAX_PARTITION, True), Path("x"))
    assert sent[0] == record.value and sent[1] == record.key and sent[2] == record.partition


@given(
    timestamp=st.one_of(st.none(), INTEGERS, SCALARS),
    timestamp_type=st.one_of(st.sampled_from(["CreateTime", "NoTimestampType"]), SCALARS),
    partition=st.one_of(INTEGERS, SCALARS),
    offset=st.one_of(INTEGERS, SCALARS),
    key=BYTES_FIELD,
    value=BYTES_FIELD,
    headers=st.one_of(st.lists(st.tuples(TEXT, BYTES_FIELD).map(list), max_size=3), ANY_JSON),
)
@example(1796083200000000, "CreateTime", 0, 0, None, "v", [])  # microseconds by mistake
@example(253402300800000, "CreateTime", MAX_PARTITION, MAX_LONG, None, None, [])  # year 10000
@example(MAX_LONG + 1, "CreateTime", 0, 0, None, None, [])
@example(0, "CreateTime", 5_000_000_000, 0, None, None, [])
@example(0, "CreateTime", 0, 0, "\ud800", None, [["\udc00", "v"]])
def test_envelope_lines_are_read_sanely_or_refused_cleanly(
    timestamp: Any,
    timestamp_type: Any,
    partition: Any,
    offset: Any,
    key: Any,
    value: Any,
    headers: Any,
) -> None:
    fields = [timestamp, timestamp_type, partition, offset, key, value, headers]
    assert_sane_record(dumps(dict(zip(FIELDS, fields, strict=True))))


@given(st.one_of(st.binary(max_size=60), TEXT.map(lambda t: t.encode("utf-8", "surrogatepass"))))
@example(b"[" * 100_000)  # deeper than either JSON reader recurses
@example(b'{"timestamp":' + b"1" * 5000 + b"}")  # beyond Python's digits limit for int()
@example(b'{"timestamp":NaN}')
def test_any_bytes_are_an_envelope_line_or_a_clean_refusal(line: bytes) -> None:
    assert_sane_record(line)


METADATA_FIELDS = (
    "format", "version", "topic", "time", "partitions", "replicationFactor", "configs", "groups"
)  # fmt: skip


def metadata_document(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "topic": "orders",
        "time": "2026-12-01T10:00:00.000Z",
        "partitions": 3,
        "replicationFactor": 1,
        "configs": {"cleanup.policy": "compact"},
        "groups": {"billing": {"0": 120, "2": 7}},
    }
    return {**base, **fields}


def assert_sane_metadata(path: Path) -> None:
    try:
        metadata = read_metadata(path)
    except MetadataError as exc:
        refused = str(exc)
    else:
        refused = ""
    if refused:
        assert str(path) in refused  # the message names the file
        return
    assert is_topic_name(metadata.topic)
    assert metadata.time.tzinfo is UTC
    metadata.time.timestamp()  # every reader shows it as an epoch or ISO time
    assert 1 <= metadata.partitions <= MAX_PARTITION
    assert 1 <= metadata.replication_factor <= MAX_REPLICATION_FACTOR
    for key, text in metadata.configs.items():
        assert isinstance(key, str) and isinstance(text, str)
        (key + text).encode("utf-8")
    for group, offsets in metadata.groups.items():
        assert isinstance(group, str) and group
        group.encode("utf-8")
        for partition, offset in offsets.items():
            assert 0 <= partition <= MAX_PARTITION and 0 <= offset <= MAX_LONG
    # What the cycle writes of it reads back the same.
    again = path.parent / "again"
    again.mkdir(exist_ok=True)
    reread = read_metadata(write_metadata(again, "s", metadata))
    assert abs(reread.time - metadata.time) < timedelta(milliseconds=1)  # written to the ms
    assert replace(reread, time=metadata.time) == metadata


@given(
    field=st.sampled_from(METADATA_FIELDS),
    value=ANY_JSON,
)
@example("partitions", 2**40)
@example("partitions", MAX_PARTITION + 1)
@example("replicationFactor", 2**15)
@example("time", "0001-01-01T00:00+01:00")  # before the year 1 in UTC
@example("time", "9999-12-31T23:59-01:00")  # after the year 9999 in UTC
@example("topic", "\ud800")
@example("topic", None)
@example("groups", {"g": {"0": float("inf")}})
@example("groups", {"g": {"0": -1}})
@example("groups", {"g": {"²": 1}})
@example("groups", {"\udc80": {"0": 1}})
@example("configs", ["ab"])
@example("configs", {"k": {"nested": 1}})
def test_topic_metadata_files_are_read_sanely_or_refused_cleanly(
    tmp_path_factory: pytest.TempPathFactory, field: str, value: Any
) -> None:
    directory = tmp_path_factory.mktemp("metadata")
    path = directory / metadata_name("orders", "s")
    path.write_bytes(dumps(metadata_document(**{field: value})))
    assert_sane_metadata(path)


@given(document=st.one_of(ANY_JSON, st.dictionaries(TEXT, ANY_JSON, max_size=8)))
def test_any_json_is_topic_metadata_or_a_clean_refusal(
    tmp_path_factory: pytest.TempPathFactory, document: Any
) -> None:
    path = tmp_path_factory.mktemp("metadata") / metadata_name("orders", "s")
    path.write_bytes(dumps(document))
    assert_sane_metadata(path)


@given(st.binary(max_size=80))
@example(b"[" * 100_000)
@example(b"\xff\xfe")
def test_any_bytes_are_topic_metadata_or_a_clean_refusal(
    tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> None:
    path = tmp_path_factory.mktemp("metadata") / metadata_name("orders", "s")
    path.write_bytes(data)
    assert_sane_metadata(path)


@given(other=st.sampled_from(["payments", "orders.v2", "orders-s", "o" * 249]))
def test_another_topics_metadata_reads_as_that_topics(
    tmp_path_factory: pytest.TempPathFactory, other: str
) -> None:
    """A file copied beside the wrong sink files: the parser says whose it is (restore compares
    it with the topic it restores), never the name's topic."""
    directory = tmp_path_factory.mktemp("metadata")
    path = directory / metadata_name("orders", "s")
    path.write_bytes(dumps(metadata_document(topic=other)))
    assert find_metadata([directory], "orders-s") == path
    metadata = read_metadata(path)
    assert isinstance(metadata, TopicMetadata) and metadata.topic == other
