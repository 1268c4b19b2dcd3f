"""Envelope lines: every record (any bytes as key, value and header values, null anywhere,
repeated headers, any partition and offset) reads back the same through envelope.parse_line
(the scan's validating reader) and through the send's fast reader (replay.envelope_records),
and a Routing keeps or places it the same way either way."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kafka_connect_backup.kafka.envelope import encode_bytes, parse_line
from kafka_connect_backup.restore.exact import Routing
from kafka_connect_backup.restore.replay import envelope_records

pytestmark = pytest.mark.fuzz

DATA = st.one_of(st.none(), st.binary(max_size=40), st.text(max_size=20).map(str.encode))
HEADERS = st.lists(st.tuples(st.sampled_from(["h", "trace", "é"]), DATA), max_size=4)


@given(
    partition=st.integers(0, 5),
    offset=st.integers(0, 2**62),
    timestamp=st.one_of(st.none(), st.integers(0, 2**45)),
    key=DATA,
    value=DATA,
    headers=HEADERS,
    by_partition=st.booleans(),
)
def test_both_readers_agree(
    partition: int,
    offset: int,
    timestamp: int | None,
    key: bytes | None,
    value: bytes | None,
    headers: list[tuple[str, bytes | None]],
    by_partition: bool,
) -> None:
    line = json.dumps(
        {
            "timestamp": timestamp,
            "timestampType": "NoTimestampType" if timestamp is None else "CreateTime",
            "partition": partition,
            "offset": offset,
            "key": encode_bytes(key),
            "value": encode_bytes(value),
            "headers": [[name, encode_bytes(data)] for name, data in headers],
        },
        ensure_ascii=False,
    ).encode()
    record = parse_line(line)
    assert (record.key, record.value, list(record.headers)) == (key, value, headers)
    routing = Routing(6 if by_partition else 4, by_partition)
    sent = list(envelope_records([line], routing, Path("x")))
    assert sent == [
        (
            value,
            key,
            routing.route(record.partition, record.key),
            timestamp or 0,
            list(headers) or None,
        )
    ]
