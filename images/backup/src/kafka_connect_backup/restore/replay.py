"""Send the planned lines: re-read each file and produce exactly the line ranges the scan
selected (no second classification), optionally keyed by a JSON field."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson

from kafka_connect_backup.core.config_basics import SinkFormat
from kafka_connect_backup.kafka.envelope import EnvelopeError, parse_line
from kafka_connect_backup.kafka.producer import Headers, Record, RecordProducer
from kafka_connect_backup.kafka.timefilter import FieldReader
from kafka_connect_backup.restore.exact import Routing
from kafka_connect_backup.restore.plan import FilePlan, Plan
from kafka_connect_backup.restore.sources import LineBatches, SourceError, block_lines


def planned_segments(plan: FilePlan) -> Iterator[list[bytes]]:
    """The planned lines of one file, as slices of its line batches."""
    ranges = plan.ranges
    if not ranges:
        return
    current = 0
    base = 0
    batches: Iterable[list[bytes]] = (
        map(block_lines, plan.cached) if plan.cached is not None else LineBatches(plan.source)
    )
    for lines in batches:
        top = base + len(lines)
        while current < len(ranges) and ranges[current][0] < top:
            first, end = ranges[current]
            yield lines[max(first, base) - base : min(end, top) - base]
            if end > top:
                break
            current += 1
        base = top
        if current >= len(ranges):
            return


def record_key(reader: FieldReader, value: bytes) -> bytes | None:
    """The key from a JSON field: strings as their UTF-8, other values as their JSON."""
    field = reader.read(value)
    if field is None:
        return None
    if isinstance(field, str):
        # A lone surrogate escape ("\ud800", read by json_value's fallback) as its WTF-8.
        return field.encode("utf-8", "surrogatepass")
    try:
        return orjson.dumps(field)
    except orjson.JSONEncodeError:  # an integer beyond 64 bits (read by json_value)
        return json.dumps(field, separators=(",", ":"), ensure_ascii=False).encode()


def _bytes(item: Any) -> bytes | None:
    """An envelope's bytes, already checked by the scan (envelope.decode_bytes checks)."""
    if item is None:
        return None
    if item.__class__ is str:
        return item.encode("utf-8")
    return base64.b64decode(item["b64"])


def envelope_records(segment: list[bytes], routing: Routing, path: Path) -> Iterator[Record]:
    """Each planned envelope line as the record to produce. The scan validated every line
    (envelope.parse_line), so this reads the fields directly: the send's hot loop."""
    loads = orjson.loads
    route = routing.route
    for line in segment:
        try:
            data = loads(line)
            key = _bytes(data["key"])
            headers: Headers = [(name, _bytes(item)) for name, item in data["headers"]]
            yield (
                _bytes(data["value"]),
                key,
                route(data["partition"], key),
                data["timestamp"] or 0,  # 0: none, the producer's time (NoTimestampType)
                headers or None,
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, UnicodeError):
            try:  # a line unlike the scanned one: say what is wrong with it
                parse_line(line)
                reason = "its bytes differ from the scan's"
            except EnvelopeError as exc:
                reason = str(exc)
            raise SourceError(
                f"{path} changed after the scan ({reason}): the records before it were sent; "
                "restore from a file nothing writes to"
            ) from None


def replay(
    plan: Plan,
    producer: RecordProducer,
    key_field: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict[str, int]:
    """Produce every planned line; returns lines sent per file (to spot a file that shrank)."""
    reader = FieldReader(key_field) if key_field else None
    sent: dict[str, int] = {}
    for file_plan in plan.files:
        count = 0
        sink = file_plan.source.sink
        envelope = sink is not None and sink.sink_format is SinkFormat.ENVELOPE
        routing = plan.exact.routing if plan.exact is not None else None
        if envelope and routing is None:
            raise RuntimeError("internal error: envelope records to send without a routing")
        for segment in planned_segments(file_plan):
            if envelope and routing is not None:
                producer.send_records(envelope_records(segment, routing, file_plan.source.path))
            elif reader is None:
                producer.send_values(segment)
            else:
                producer.send_keyed((record_key(reader, value), value) for value in segment)
            count += len(segment)
            if progress is not None:
                progress(len(segment))
        sent[str(file_plan.source.path)] = count
    return sent
