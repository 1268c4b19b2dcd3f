"""sinkFormat envelope on the Python side: envelope lines read back (the transform's own
lines, from its JUnit tests), file names of both formats, the config and the connectors it
declares, the status's newest record, and restore refusing envelope files for now."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kafka_connect_backup.config import ConfigError, SinkFormat, SinkRotation, parse_config
from kafka_connect_backup.connect.connectors import current_files, desired_connectors
from kafka_connect_backup.kafka.envelope import (
    CONNECTOR_SETTINGS,
    EnvelopeError,
    EnvelopeRecord,
    decode_bytes,
    encode_bytes,
    parse_line,
)
from kafka_connect_backup.layout.sinkfiles import (
    SinkFileName,
    compressed_name,
    parse_sink_file,
    sink_file,
)
from kafka_connect_backup.supervisor.status import newest_record

pytestmark = pytest.mark.unit

# Lines the transform writes (EnvelopeTest.java asserts these exact strings).
FULL = (
    '{"timestamp":1767225600123,"timestampType":"CreateTime","partition":2,"offset":42,'
    '"key":"k1","value":{"b64":"3q2+7w=="},"headers":[["trace","a"],["bin",{"b64":"AP8="}],'
    '["trace","b"],["empty",null]]}'
)
TOMBSTONE = (
    '{"timestamp":5,"timestampType":"LogAppendTime","partition":2,"offset":42,'
    '"key":null,"value":null,"headers":[]}'
)
NO_TIME = (
    '{"timestamp":null,"timestampType":"NoTimestampType","partition":2,"offset":42,'
    '"key":"","value":"v","headers":[]}'
)


def test_the_transforms_lines_read_back_exactly() -> None:
    assert parse_line(FULL) == EnvelopeRecord(
        timestamp=1767225600123,
        timestamp_type="CreateTime",
        partition=2,
        offset=42,
        key=b"k1",
        value=b"\xde\xad\xbe\xef",
        headers=(("trace", b"a"), ("bin", b"\x00\xff"), ("trace", b"b"), ("empty", None)),
    )
    assert parse_line(FULL).time == datetime(2026, 1, 1, 0, 0, 0, 123000, tzinfo=UTC)
    tombstone = parse_line(TOMBSTONE.encode() + b"\n")
    assert (tombstone.key, tombstone.value, tombstone.timestamp_type) == (
        None,
        None,
        "LogAppendTime",
    )
    no_time = parse_line(NO_TIME)
    assert (no_time.timestamp, no_time.time, no_time.key, no_time.value) == (None, None, b"", b"v")


@pytest.mark.parametrize(
    "data",
    [None, b"", b"text", "é😀\u2028".encode(), b"\x00\x1f\x7f", b"\xff", b"\xed\xa0\x80", b"a\xc0"],
)
def test_bytes_round_trip_through_their_json_form(data: bytes | None) -> None:
    encoded = encode_bytes(data)
    assert decode_bytes(json.loads(json.dumps(encoded)), "value") == data
    if data is not None:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            assert encoded == {"b64": base64.b64encode(data).decode()}
        else:
            assert isinstance(encoded, str)


def _line(**changes: object) -> str:
    data = json.loads(FULL)
    data.update(changes)
    return json.dumps(data)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", "not JSON"),
        ("[1]", "expected the fields"),
        ('{"value":"v"}', "expected the fields"),
        (_line(timestampType="Other"), "timestampType"),
        (_line(partition=-1), "partition: expected a non-negative integer"),
        (_line(offset=True), "offset: expected a non-negative integer"),
        (_line(timestamp="1"), "timestamp: expected a non-negative integer"),
        (_line(key=1), r'key: expected a string, \{"b64": ...\} or null'),
        (_line(value={"b64": "!!"}), "value: b64 is not valid base64"),
        (_line(value={"b64": "AA==", "x": 1}), "value: expected"),
        (_line(key="\ud800"), "key: text that is not valid Unicode"),
        (_line(headers={}), "headers: expected an array"),
        (_line(headers=[["h"]]), r"headers.0: expected a \[name, value\] pair"),
        (_line(headers=[["h", "v"], [1, "v"]]), r"headers.1: expected a \[name, value\] pair"),
        (_line(headers=[["h", 5]]), "headers.0: expected a string"),
        (b"\xff", "not JSON"),
        (_line(partition=2**31), "partition: 2147483648 is beyond Kafka's range"),
        (_line(offset=2**63), f"offset: {2**63} is beyond Kafka's range"),
        (_line(timestamp=2**63), f"timestamp: {2**63} is beyond Kafka's range"),
        (_line(timestamp=10**400), "timestamp: 1000000000.* is beyond Kafka's range"),
        (_line(timestamp=-1), "timestamp: expected a non-negative integer, got -1"),
        (
            _line(headers=[["\udc80", "v"]]),
            "headers.0: the name .* is text that is not valid Unicode",
        ),
    ],
)
def test_a_line_that_is_not_an_envelope_says_what_is_wrong(line: str, message: str) -> None:
    with pytest.raises(EnvelopeError, match=message):
        parse_line(line)


def test_file_names_of_both_formats() -> None:
    root = Path("/data/filesink")
    value = sink_file(root, "orders", "file-sink", "2026-11")
    envelope = sink_file(root, "orders", "file-sink", "2026-11", SinkFormat.ENVELOPE)
    assert value.name == "orders-file-sink-2026-11.sink"
    assert envelope.name == "orders-file-sink-2026-11.envelope.sink"
    assert parse_sink_file(envelope) == SinkFileName(
        envelope, "orders-file-sink", "2026-11", None, SinkFormat.ENVELOPE
    )
    assert parse_sink_file(value) == SinkFileName(value, "orders-file-sink", "2026-11", None)
    gz = compressed_name(envelope, 1767225600)
    assert gz.name == "orders-file-sink-2026-11.envelope.sink-1767225600.gz"
    assert parse_sink_file(gz) == SinkFileName(
        gz, "orders-file-sink", "2026-11", 1767225600, SinkFormat.ENVELOPE
    )
    daily = sink_file(root, "a.envelope", "s", "2026-11-02", SinkFormat.ENVELOPE)
    assert parse_sink_file(daily) == SinkFileName(
        daily, "a.envelope-s", "2026-11-02", None, SinkFormat.ENVELOPE
    )
    for name in ("t-s-2026-11.value.sink", "t-s-2026-11.envelope", "t-s-2026-11.sink.envelope"):
        assert parse_sink_file(root / name) is None


def test_config_defaults_to_the_value_format_and_accepts_envelope() -> None:
    assert parse_config({"topics": ["t"]}).sink_format is SinkFormat.VALUE
    assert parse_config({"topics": ["t"], "sinkFormat": "envelope"}).sink_format is (
        SinkFormat.ENVELOPE
    )
    with pytest.raises(ConfigError, match=r"sinkFormat: Input should be 'value' or 'envelope'"):
        parse_config({"topics": ["t"], "sinkFormat": "json"})


@pytest.mark.parametrize(
    "key", ["value.converter", "header.converter", "transforms", "transforms.x.type"]
)
def test_envelope_refuses_connector_config_that_would_override_its_own(key: str) -> None:
    extra = {"connect": {"connectorConfig": {key: "x", "errors.tolerance": "none"}}}
    with pytest.raises(ConfigError, match=rf"connect.connectorConfig sets {key}: with sinkFormat"):
        parse_config({"topics": ["t"], "sinkFormat": "envelope", **extra})
    assert parse_config({"topics": ["t"], **extra}).connect.connector_config[key] == "x"


def test_connectors_of_each_format(tmp_path: Path) -> None:
    base = {"topics": ["orders"], "sinkName": "s", "sinkPath": str(tmp_path)}
    extra = {"connect": {"connectorConfig": {"consumer.override.max.poll.records": "100"}}}
    value = desired_connectors(parse_config({**base, **extra}), "2026-11")["orders-s"]
    envelope = desired_connectors(
        parse_config({**base, **extra, "sinkFormat": "envelope"}), "2026-11"
    )["orders-s"]
    common = {
        "name": "orders-s",
        "connector.class": "org.apache.kafka.connect.file.FileStreamSinkConnector",
        "tasks.max": "1",
        "topics": "orders",
        "consumer.override.max.poll.records": "100",
    }
    assert value == {**common, "file": str(tmp_path / "orders-s-2026-11.sink")}
    assert envelope == {
        **common,
        "key.converter": "org.apache.kafka.connect.converters.ByteArrayConverter",
        "value.converter": "org.apache.kafka.connect.converters.ByteArrayConverter",
        "header.converter": "org.apache.kafka.connect.converters.ByteArrayConverter",
        "transforms": "envelope",
        "transforms.envelope.type": "io.github.kafkaconnectbackup.envelope.Envelope",
        "file": str(tmp_path / "orders-s-2026-11.envelope.sink"),
    }
    assert set(CONNECTOR_SETTINGS) <= set(envelope)
    assert current_files(parse_config({**base, "sinkFormat": "envelope"}), "2026-11") == {
        tmp_path / "orders-s-2026-11.envelope.sink"
    }
    assert parse_config(base).sink_rotation is SinkRotation.MONTHLY


def test_newest_record_of_an_envelope_file_is_its_last_timestamp(tmp_path: Path) -> None:
    path = tmp_path / "t-s-2026-01.envelope.sink"
    path.write_text(f"{FULL}\n{NO_TIME}\n{{torn")  # no time, then a torn line: skipped
    assert newest_record(path, envelope=True) == datetime(2026, 1, 1, 0, 0, 0, 123000, tzinfo=UTC)
    path.write_text(f"{NO_TIME}\n")
    assert newest_record(path, envelope=True) is None


@pytest.mark.parametrize(
    "timestamp",
    [
        1796083200000000,  # 2026-12-01 in microseconds by mistake: the year 58885
        253402300800000,  # 10000-01-01T00:00:00Z
        2**63 - 1,  # Kafka's largest
    ],
)
def test_a_timestamp_no_clock_can_show_is_an_unreadable_time(timestamp: int) -> None:
    record = parse_line(_line(timestamp=timestamp))
    assert record.timestamp == timestamp  # kept as is: a restore sends it unchanged
    assert record.time is None


def test_the_largest_readable_time_and_the_limits_themselves() -> None:
    last = parse_line(_line(timestamp=253402300799999, partition=2**31 - 1, offset=2**63 - 1))
    assert last.time == datetime(9999, 12, 31, 23, 59, 59, 998993, tzinfo=UTC)
    assert (last.partition, last.offset) == (2**31 - 1, 2**63 - 1)


def test_newest_record_passes_over_a_time_no_clock_can_show(tmp_path: Path) -> None:
    path = tmp_path / "t-s-2026-01.envelope.sink"
    path.write_text(f"{FULL}\n{_line(timestamp=1796083200000000)}\n")
    assert newest_record(path, envelope=True) == datetime(2026, 1, 1, 0, 0, 0, 123000, tzinfo=UTC)
