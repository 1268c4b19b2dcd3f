"""Exact restores from envelope files (`sinkFormat: envelope`): which records are replayed,
where each goes, and where each saved consumer group ends up.

Selection (the scan, before anything is sent), per record:
- its time in the window: the record's Kafka timestamp, or `--timestamp-field` of its value
  when given (a record without one is --missing-timestamp's, unless no time bound is given at
  all, as with --from-offset alone);
- `--from-offset P:O`: on partition P, offsets from O on (partitions not named: all);
- an offset at or below one already read on its partition is a duplicate (a sink task that
  crashed before its commit delivers the same records again) and is skipped.
Files are read in the order they were written (sinkfiles.sort_key), so each partition's
records are replayed in offset order.

Routing: into the record's own partition when the target has the source's partition count
(the topic metadata file's; without one, as long as every partition exists in the target),
otherwise by key as a Java producer would (murmur2, kafka/partitioner.py); a null key keeps its
partition modulo the target's count. The route is fixed before the send, so each record's
position in its target partition, and therefore every group mapping, is known in the plan.

Group mapping (`--restore-groups`): a group's saved offset O on partition P means it had
consumed every record of P before O. Its restored position on a target partition is that of
the first replayed record it had not consumed (the end when it had consumed them all), so it
resumes exactly where it was: nothing skipped; in key routing, where partitions mix, nothing
skipped either (at worst records it had consumed are read again). With partition routing a
partition the group had no commit on gets none. After a value -> envelope switch the value
files are replayed first: the envelope records' start on each target partition is its end
offset after the send less their count, and a partition where the group's saved offset is
before the first envelope record (value records it had not read, without offsets) restarts
from the first replayed record.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from kafka_connect_backup.kafka.envelope import (
    MAX_LONG,
    MAX_PARTITION,
    EnvelopeError,
    EnvelopeRecord,
    parse_line,
)
from kafka_connect_backup.kafka.partitioner import key_partition
from kafka_connect_backup.kafka.timefilter import (
    EARLIEST,
    LATEST,
    FieldReader,
    Verdict,
    record_moment,
)
from kafka_connect_backup.restore.sources import SourceError

BEFORE_FROM_OFFSET = "before_from_offset"
DUPLICATE_OFFSET = "duplicate_offset"


_DIGITS = re.compile(r"[0-9]+")


def parse_from_offsets(values: list[str]) -> dict[int, int]:
    """`P:O` items (repeatable, or comma-separated) -> partition -> first offset; ValueError
    naming the bad item."""
    found: dict[int, int] = {}
    for value in values:
        for item in value.split(","):
            partition, sep, offset = item.strip().partition(":")
            # ASCII digits only: str.isdigit() and int() also take '²' or '٣'.
            if not (sep and _DIGITS.fullmatch(partition) and _DIGITS.fullmatch(offset)):
                raise ValueError(
                    f"--from-offset {item.strip()!r} is not PARTITION:OFFSET in ASCII digits "
                    "(e.g. 0:1500)"
                )
            if int(partition) > MAX_PARTITION or int(offset) > MAX_LONG:
                raise ValueError(
                    f"--from-offset {item.strip()!r} is beyond Kafka's numbers (partition at "
                    f"most {MAX_PARTITION}, offset at most {MAX_LONG})"
                )
            if int(partition) in found:
                raise ValueError(f"--from-offset names partition {partition} twice")
            found[int(partition)] = int(offset)
    return found


@dataclass(frozen=True)
class Routing:
    """Where each record goes: its own partition, or by key."""

    partitions: int  # the target's
    by_partition: bool
    why: str = ""  # why by key, when the counts alone do not say it

    def route(self, partition: int, key: bytes | None) -> int:
        if self.by_partition:
            return partition
        if key is None:
            return partition % self.partitions
        return key_partition(key, self.partitions)

    def describe(self) -> str:
        if self.by_partition:
            return "each record into its own partition (the target has the source's partitions)"
        return (
            f"by key over the target's {self.partitions} partitions (murmur2, as a Java "
            "producer; a null key: its partition modulo the count)"
            + (f": {self.why}" if self.why else "")
        )


def choose_routing(target_partitions: int, source_partitions: int | None) -> Routing:
    """Own partitions when the counts agree or the source's is unknown (then every record's
    partition must exist in the target: ExactState checks)."""
    same = source_partitions is None or source_partitions == target_partitions
    return Routing(target_partitions, same)


@dataclass
class ExactState:
    """What the scan of envelope files carries from line to line and file to file."""

    start: datetime
    end: datetime
    reader: FieldReader | None  # --timestamp-field of the value, else the record timestamp
    from_offsets: dict[int, int]
    routing: Routing | None = None  # None: a scan that does not send (list, export)
    groups: dict[str, dict[int, int]] = field(default_factory=dict)  # saved offsets to map
    last_offset: dict[int, int] = field(default_factory=dict)  # per source partition
    counts: Counter[int] = field(default_factory=Counter)  # records routed per target partition
    # group -> target partition -> index of the first routed record the group had not consumed
    first_unconsumed: dict[str, dict[int, int]] = field(default_factory=dict)
    source_partitions: set[int] = field(default_factory=set)
    unroutable: tuple[int, int] | None = None  # (partition, offset) of a record with no target
    # Value files are replayed before these records (a sinkFormat value -> envelope switch):
    # each target partition's envelope records start after value records counted only once
    # sent, and a group whose saved offset is below a partition's first envelope record had
    # not read value records that carry no offsets.
    after_values: bool = False
    first_offset: dict[int, int] = field(default_factory=dict)  # per source partition

    @property
    def unbounded(self) -> bool:
        """No time bound at all (--from-offset alone): a record without a timestamp is not
        left out."""
        return self.start == EARLIEST and self.end == LATEST and self.reader is None

    def moment(self, record: EnvelopeRecord) -> datetime | None:
        if self.reader is None:
            return record.time
        if record.value is None:
            return None
        return record_moment(self.reader.read(record.value))

    def routed(self, record: EnvelopeRecord) -> None:
        """A record that will be sent: count its place and the groups' positions."""
        routing = self.routing
        if routing is None:
            return
        if routing.by_partition and record.partition >= routing.partitions:
            if self.unroutable is None:
                self.unroutable = (record.partition, record.offset)
            return
        target = routing.route(record.partition, record.key)
        index = self.counts[target]
        self.counts[target] = index + 1
        for group, saved in self.groups.items():
            positions = self.first_unconsumed.setdefault(group, {})
            if target not in positions and record.offset >= saved.get(record.partition, -1):
                positions[target] = index

    def positions(
        self,
        group: str,
        starts: list[int] | None = None,
        replay_starts: list[int] | None = None,
    ) -> dict[int, int]:
        """The group's restored offsets: target partition -> offset (starts: where the
        envelope records begin on each target partition, the target's offsets before the send
        or 0 for a recreated topic; after value files, `replay_starts` is where the replay
        began, which an uncovered partition restarts from, so nothing is skipped)."""
        routing = self.routing
        if routing is None:
            return {}
        saved = self.groups[group]
        first = self.first_unconsumed.get(group, {})
        partitions = (
            sorted(p for p in saved if p < routing.partitions)
            if routing.by_partition
            else list(range(routing.partitions))
        )
        base = starts or [0] * routing.partitions
        found = {p: base[p] + first.get(p, self.counts[p]) for p in partitions}
        if replay_starts is not None:
            for source in self.uncovered(group):
                targets = [source] if routing.by_partition else list(found)
                found.update({t: replay_starts[t] for t in targets if t in found})
        return found

    def uncovered(self, group: str) -> list[int]:
        """After value files: the source partitions where the group's saved offset is below
        the first envelope record, so it had not read value records (no offsets to map)."""
        if not self.after_values:
            return []
        first = self.first_offset
        return sorted(p for p, o in self.groups[group].items() if p in first and o < first[p])


@dataclass
class EnvelopeBatch:
    verdicts: bytes
    skipped: Counter[str]
    no_time: int
    low: datetime | None
    high: datetime | None
    first_missing: int
    largest: int  # bytes of the largest record to send (key, value, headers)
    largest_index: int


def _send_size(record: EnvelopeRecord) -> int:
    """The bytes a record sends: key, value and headers."""
    size = len(record.key or b"") + len(record.value or b"")
    return size + sum(len(k) + len(v or b"") for k, v in record.headers)


def classify_envelope_batch(
    lines: list[bytes], state: ExactState, include_missing: bool, first_line: int, path: str
) -> EnvelopeBatch:
    """One byte per line (1 = send), as classify.classify_batch does for value lines; a line that
    is not an envelope line is an error naming the file and line (nothing sent)."""
    verdicts = bytearray(len(lines))
    skipped: Counter[str] = Counter()
    no_time = 0
    first_missing = -1
    low: datetime | None = None
    high: datetime | None = None
    largest = largest_index = 0
    start, end = state.start, state.end
    unbounded = state.unbounded
    last, seen = state.last_offset, state.source_partitions
    for index, line in enumerate(lines):
        try:
            record = parse_line(line)
        except EnvelopeError as exc:
            raise SourceError(
                f"{path} line {first_line + index + 1} is not an envelope line ({exc}): is it "
                "an envelope sink file (sinkFormat: envelope)?"
            ) from None
        partition, offset = record.partition, record.offset
        seen.add(partition)
        previous = last.get(partition, -1)
        if previous < 0:
            state.first_offset[partition] = offset
        if offset <= previous:
            skipped[DUPLICATE_OFFSET] += 1
            continue
        last[partition] = offset
        moment = state.moment(record)
        if moment is not None:
            if low is None or moment < low:
                low = moment
            if high is None or moment > high:
                high = moment
        if offset < state.from_offsets.get(partition, 0):
            skipped[BEFORE_FROM_OFFSET] += 1
            continue
        if moment is None:
            if first_missing < 0:
                first_missing = index
            no_time += 1
            if not (include_missing or unbounded):
                continue
        elif moment < start:
            skipped[Verdict.BEFORE_FROM.value] += 1
            continue
        elif moment >= end:
            skipped[Verdict.AT_OR_AFTER_TO.value] += 1
            continue
        verdicts[index] = 1
        state.routed(record)
        if len(line) > largest:  # a record's bytes never exceed its line's: skip most sums
            size = _send_size(record)
            if size > largest:
                largest, largest_index = size, index
    return EnvelopeBatch(
        bytes(verdicts), skipped, no_time, low, high, first_missing, largest, largest_index
    )
