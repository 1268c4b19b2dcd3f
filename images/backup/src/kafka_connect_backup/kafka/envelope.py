"""The record envelope (`sinkFormat: envelope`): what the connectors are told to do, and how a
line of an envelope file reads back.

The envelope transform (images/connect/envelope, a Kafka Connect single message transform)
replaces each record's value with one JSON line, which FileStreamSink writes as it writes a
value. Its fields, always all of them, in this order:

    {"timestamp":1767225600123,"timestampType":"CreateTime","partition":2,"offset":42,
     "key":"k1","value":{"b64":"3q2+7w=="},"headers":[["trace","a"],["bin",{"b64":"AP8="}]]}

- `timestamp`: epoch milliseconds, or null with `timestampType` NoTimestampType; otherwise
  `timestampType` is CreateTime or LogAppendTime;
- `partition`, `offset`: where the record was in Kafka;
- `key`, `value` and each header's value are bytes: a JSON string when they are valid UTF-8
  (its UTF-8 encoding is exactly the bytes), an object `{"b64": "<standard base64>"}` when
  they are not, null when null (a tombstone's value, a null key, a header without a value);
- `headers`: `[name, value]` pairs in the record's order, repeated names kept.

The connectors read raw bytes (the three converters are ByteArrayConverter), so nothing is
lost on the way; the file is UTF-8, one record per line.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from typing import Any, NamedTuple

import orjson

TRANSFORM_CLASS = "io.github.kafkaconnectbackup.envelope.Envelope"
BYTE_ARRAY_CONVERTER = "org.apache.kafka.connect.converters.ByteArrayConverter"
TIMESTAMP_TYPES = ("CreateTime", "LogAppendTime", "NoTimestampType")
FIELDS = ("timestamp", "timestampType", "partition", "offset", "key", "value", "headers")

# What an envelope connector's config adds: raw bytes in, the transform, a line out.
CONNECTOR_SETTINGS: dict[str, str] = {
    "key.converter": BYTE_ARRAY_CONVERTER,
    "value.converter": BYTE_ARRAY_CONVERTER,
    "header.converter": BYTE_ARRAY_CONVERTER,
    "transforms": "envelope",
    "transforms.envelope.type": TRANSFORM_CLASS,
}


# Kafka's own limits: a partition is an int32, an offset and a timestamp are int64s.
MAX_PARTITION = 2**31 - 1
MAX_LONG = 2**63 - 1
# The last millisecond a datetime can hold (9999-12-31T23:59:59.999Z).
MAX_TIMESTAMP = 253402300799999


class EnvelopeError(ValueError):
    """A line that is not an envelope line; the message says which part is wrong."""


class EnvelopeRecord(NamedTuple):  # a tuple: built once per line of a restore's scan
    timestamp: int | None  # epoch milliseconds
    timestamp_type: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...]

    @property
    def time(self) -> datetime | None:
        """The record's time; None without one, and for one no clock can show (a timestamp
        in microseconds by mistake is past the year 9999): an unreadable time, which
        --missing-timestamp decides about, never an error that stops a scan or the daemon."""
        if self.timestamp is None or self.timestamp > MAX_TIMESTAMP:
            return None
        return datetime.fromtimestamp(self.timestamp / 1000, UTC)


def encode_bytes(data: bytes | None) -> str | dict[str, str] | None:
    """The envelope's JSON form of bytes (what the transform writes)."""
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return {"b64": base64.b64encode(data).decode("ascii")}


def decode_bytes(item: Any, where: str) -> bytes | None:
    if item is None:
        return None
    if item.__class__ is str:  # the common case first (a restore's scan calls this per field)
        try:
            return item.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate from a \ud800 escape
            raise EnvelopeError(f"{where}: text that is not valid Unicode") from None
    if isinstance(item, dict) and set(item) == {"b64"} and isinstance(item["b64"], str):
        try:
            return base64.b64decode(item["b64"], validate=True)
        except binascii.Error:
            raise EnvelopeError(f"{where}: b64 is not valid base64") from None
    raise EnvelopeError(f'{where}: expected a string, {{"b64": ...}} or null')


def _integer(item: Any, name: str, limit: int = MAX_LONG) -> int:
    if item.__class__ is not int or item < 0:  # not isinstance: bool is an int
        raise EnvelopeError(f"{name}: expected a non-negative integer, got {item!r}")
    if item > limit:  # no record of Kafka's has it
        raise EnvelopeError(f"{name}: {item} is beyond Kafka's range (at most {limit})")
    return item


def parse_line(line: str | bytes) -> EnvelopeRecord:
    """One envelope line (with or without its newline) -> the record it holds."""
    try:
        data = orjson.loads(line)  # the restore's hot path; it keeps the fields' order
    except orjson.JSONDecodeError:
        try:  # the standard library's reading of what orjson refuses, and its message
            data = json.loads(line)
        # ValueError: also an integer of more digits than int() reads (4300); RecursionError:
        # nesting deeper than either reader goes.
        except (ValueError, RecursionError) as exc:
            raise EnvelopeError(f"not JSON: {exc}") from None
    if not isinstance(data, dict) or tuple(data) != FIELDS:
        found = list(data) if isinstance(data, dict) else type(data).__name__
        raise EnvelopeError(f"expected the fields {', '.join(FIELDS)} in order, got {found}")
    timestamp_type = data["timestampType"]
    if timestamp_type not in TIMESTAMP_TYPES:
        raise EnvelopeError(f"timestampType: {timestamp_type!r} is not one of {TIMESTAMP_TYPES}")
    headers = data["headers"]
    if not isinstance(headers, list):
        raise EnvelopeError("headers: expected an array of [name, value] pairs")
    pairs: list[tuple[str, bytes | None]] = []
    for index, pair in enumerate(headers):  # usually none or a few
        if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str)):
            raise EnvelopeError(f"headers.{index}: expected a [name, value] pair")
        name = pair[0]
        if not name.isascii():  # a lone surrogate (a \udc80 escape) has no UTF-8 form
            try:
                name.encode("utf-8")
            except UnicodeEncodeError:
                raise EnvelopeError(
                    f"headers.{index}: the name {name!r} is text that is not valid Unicode "
                    "(Kafka header names are UTF-8 strings)"
                ) from None
        pairs.append((name, decode_bytes(pair[1], f"headers.{index}")))
    timestamp = data["timestamp"]
    return EnvelopeRecord(
        timestamp=None if timestamp is None else _integer(timestamp, "timestamp"),
        timestamp_type=timestamp_type,
        partition=_integer(data["partition"], "partition", MAX_PARTITION),
        offset=_integer(data["offset"], "offset"),
        key=decode_bytes(data["key"], "key"),
        value=decode_bytes(data["value"], "value"),
        headers=tuple(pairs),
    )
