"""The scan before any write: read every source once, check it is UTF-8, classify every line,
and remember which lines to send (as ranges of line numbers, usually one per file since sink
files are in time order).

The replay then sends exactly the lines the operator was shown, without classifying them again;
lines appended to a live file after the scan are not sent.
"""

from __future__ import annotations

import re
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from kafka_connect_backup.core.config_basics import SinkFormat
from kafka_connect_backup.core.exit_codes import EXIT_INVALID, RestoreError
from kafka_connect_backup.kafka.timefilter import (
    EARLIEST,
    LATEST,
    MissingTimestamp,
    TimeFilter,
    Verdict,
)
from kafka_connect_backup.kafka.topic_metadata import TopicMetadata
from kafka_connect_backup.restore.classify import BatchResult, classify_batch
from kafka_connect_backup.restore.exact import ExactState, classify_envelope_batch
from kafka_connect_backup.restore.scan_helper import TAIL, Job, ScanHelper, scan_helper
from kafka_connect_backup.restore.sources import (
    BlockBatches,
    SourceError,
    SourceFile,
    block_lines,
)

TORN_LINE = "torn_last_line"


class MissingTimestampError(RestoreError):
    """--missing-timestamp fail met a line without a readable time."""

    exit_code = EXIT_INVALID


@dataclass
class FilePlan:
    source: SourceFile
    lines: int = 0
    # Half-open [first, end) line indexes to send, ascending, not overlapping.
    ranges: list[tuple[int, int]] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    first_epoch: float | None = None  # earliest / latest record time seen in the file
    last_epoch: float | None = None
    torn: bool = False
    torn_preview: str = ""  # the start of a torn last line, for the operator
    missing_included: int = 0  # kept lines without a time (--missing-timestamp include)
    largest: int = 0  # bytes of the largest line to send, and its line number (from 1)
    largest_line: int = 0
    # The file's blocks of whole lines (sources.BlockBatches) kept in memory from the scan, so
    # the send need not read it again; None when the file did not fit in the cache budget.
    cached: list[bytes] | None = None

    @property
    def matched(self) -> int:
        return sum(end - start for start, end in self.ranges)


@dataclass
class Plan:
    files: list[FilePlan]
    exact: ExactState | None = None  # envelope files met: their selection, routes and groups
    metadata: tuple[Path, TopicMetadata] | None = None  # the topic metadata file beside them

    @property
    def read(self) -> int:
        return sum(f.lines + f.torn for f in self.files)

    @property
    def matched(self) -> int:
        return sum(f.matched for f in self.files)

    @property
    def skipped(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for plan in self.files:
            total.update(plan.skipped)
        return total

    @property
    def bytes(self) -> int:
        return sum(f.source.size for f in self.files)


def check_utf8_block(source: SourceFile, block: bytes, first_line: int) -> None:
    """A block of whole lines is UTF-8 when it decodes as a whole (a newline is never part of
    a multi-byte sequence); ASCII (most JSON) is, and bytes.isascii is far cheaper still."""
    if block.isascii():
        return
    try:
        block.decode("utf-8")
    except UnicodeDecodeError:
        _check_utf8(source, block_lines(block), first_line)


def _check_utf8(source: SourceFile, lines: list[bytes], first_line: int) -> None:
    """SourceError naming the first line that is not UTF-8."""
    for offset, line in enumerate(lines):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SourceError(
                f"{source.path} is not UTF-8 text: line {first_line + offset + 1}, byte "
                f"{exc.start + 1} ({exc.reason}); is it a sink file?"
            ) from None


_KEEP_RUNS = re.compile(rb"\x01+")


class CacheBudget:
    """Bytes of line batches the scan may keep for the send (0 disables the cache)."""

    def __init__(self, limit: int) -> None:
        self.left = limit

    def take(self, count: int) -> bool:
        if count > self.left:
            return False
        self.left -= count
        return True

    def give_back(self, count: int) -> None:
        self.left += count


class _FileScan:
    """One file's plan, built from its classified batches in file order."""

    def __init__(
        self,
        source: SourceFile,
        time_filter: TimeFilter,
        missing: MissingTimestamp,
        progress: Callable[[int], None] | None,
        exact: ExactState | None = None,
    ) -> None:
        self.plan = FilePlan(source)
        # Envelope lines are classified by record (exact.py), always in this process.
        self.exact = exact
        self.time_filter = time_filter
        self.missing = missing
        self.include_missing = missing is MissingTimestamp.INCLUDE
        self.progress = progress
        self.low, self.high = LATEST, EARLIEST
        self.before = self.after = self.no_time = 0
        self.lines = 0  # lines merged so far: the file-wide number of the next block's first

    def add(self, block: bytes, result: BatchResult | None) -> None:
        """Merge the next block of the file (result None: classify it here). Its line count
        is its classification's (the scan never counts a block the helper classified)."""
        plan = self.plan
        index = self.lines
        lines: list[bytes] | None = None
        if self.exact is not None:
            lines = block_lines(block)
            verdicts, first_missing = self._add_envelope(index, lines, self.exact)
            what = self.exact.reader.field if self.exact.reader else "record timestamp"
        else:
            if result is None:
                lines = block_lines(block)
                result = classify_batch(lines, self.time_filter, self.include_missing)
            verdicts, first_missing = result.verdicts, result.first_missing
            what = self.time_filter.reader.field
            if result.largest > plan.largest:
                plan.largest, plan.largest_line = result.largest, index + result.largest_index + 1
            self.before += result.before
            self.after += result.after
            self.no_time += result.no_time
            self.low = min(self.low, result.low)
            self.high = max(self.high, result.high)
        if self.missing is MissingTimestamp.FAIL and first_missing >= 0:
            lines = lines if lines is not None else block_lines(block)
            raise MissingTimestampError(
                f"{plan.source.path} line {index + first_missing + 1} has no readable "
                f"{what!r} time (--missing-timestamp fail): "
                f"{lines[first_missing][:120].decode('utf-8', 'replace')}"
            )
        ranges = plan.ranges
        for run in _KEEP_RUNS.finditer(verdicts):
            first, end = index + run.start(), index + run.end()
            if ranges and ranges[-1][1] == first:
                ranges[-1] = (ranges[-1][0], end)
            else:
                ranges.append((first, end))
        count = len(verdicts)
        self.lines += count
        if self.progress is not None:
            self.progress(count)

    def _add_envelope(self, index: int, lines: list[bytes], exact: ExactState) -> tuple[bytes, int]:
        plan = self.plan
        found = classify_envelope_batch(
            lines, exact, self.include_missing, index, str(plan.source.path)
        )
        plan.skipped.update(found.skipped)
        self.no_time += found.no_time
        self.low = min(self.low, found.low or LATEST)
        self.high = max(self.high, found.high or EARLIEST)
        if found.largest > plan.largest:
            plan.largest, plan.largest_line = found.largest, index + found.largest_index + 1
        return found.verdicts, found.first_missing

    def finish(self, torn: bytes | None, cached: list[bytes] | None) -> FilePlan:
        plan = self.plan
        lines = self.lines
        if torn is not None:
            _check_utf8(plan.source, [torn], lines)
            plan.torn = True
            plan.torn_preview = torn[:80].decode("utf-8", "replace")
            plan.skipped[TORN_LINE] += 1
        for reason, count in (
            (Verdict.BEFORE_FROM, self.before),
            (Verdict.AT_OR_AFTER_TO, self.after),
            (Verdict.MISSING_TIMESTAMP, 0 if self.include_missing else self.no_time),
        ):
            if count:
                plan.skipped[reason.value] += count
        plan.missing_included = self.no_time if self.include_missing else 0
        plan.lines = lines
        plan.cached = cached
        if self.high >= self.low:
            plan.first_epoch, plan.last_epoch = self.low.timestamp(), self.high.timestamp()
        return plan


# A block read by the scan and either its classification (None: classify it as it is
# merged) or the helper's ticket for it.
_Pending = tuple[bytes, "BatchResult | int | None"]


def _merge_ready(
    merge: _FileScan, pending: deque[_Pending], helper: ScanHelper | None, *, wait: bool
) -> None:
    """Merge the blocks at the front whose classification is known (all of them: `wait`)."""
    while pending:
        block, done = pending[0]
        if isinstance(done, int):  # the helper's ticket (there is a helper)
            if helper is not None and not wait and not helper.ready(done):
                return
            merge.add(block, helper.result(done) if helper is not None else None)
        else:
            merge.add(block, done)
        pending.popleft()


def scan_file(
    source: SourceFile,
    time_filter: TimeFilter,
    missing: MissingTimestamp,
    progress: Callable[[int], None] | None = None,
    budget: CacheBudget | None = None,
    exact: ExactState | None = None,
    helper: ScanHelper | None = None,
) -> FilePlan:
    """Classify every line of one file, checking it is UTF-8 and keeping its blocks in
    memory within the budget. With a helper (scan_helper.py), blocks of an uncompressed
    value file are classified by it whenever it has room, the others here, and merged in
    order; envelope files share `exact` (offsets carry across files) and stay here. A block
    the helper takes is never split nor counted here: that is most of the reading's cost."""
    envelope = source.sink is not None and source.sink.sink_format is SinkFormat.ENVELOPE
    if envelope and exact is None:  # a scan that only reads (list): record timestamps
        exact = default_exact(time_filter)
    merge = _FileScan(source, time_filter, missing, progress, exact if envelope else None)
    blocks = BlockBatches(source)
    cached: list[bytes] | None = [] if budget is not None else None
    cached_bytes = 0
    offset = 0  # file offset of the block's first byte
    pending: deque[_Pending] = deque()
    use_helper = helper if not source.compressed and not envelope else None
    for block in blocks:
        size = len(block)
        if not block.isascii():  # ASCII is UTF-8; else the error names the line: number it
            _merge_ready(merge, pending, use_helper, wait=True)
            check_utf8_block(source, block, merge.lines)
        if cached is not None and budget is not None:
            if budget.take(size):
                cached.append(block)
                cached_bytes += size
            else:  # the whole file or nothing: the send re-reads what is not cached
                budget.give_back(cached_bytes)
                cached = None
        done: BatchResult | int | None
        if use_helper is not None and blocks.identity is not None and use_helper.can_take():
            job = Job(str(source.path), blocks.identity, offset, size, block[-TAIL:])
            done = use_helper.submit(job)
        elif envelope:
            done = None  # classified by record as it is merged
        else:
            done = classify_batch(block_lines(block), time_filter, merge.include_missing)
        pending.append((block, done))
        _merge_ready(merge, pending, use_helper, wait=False)
        offset += size
    _merge_ready(merge, pending, use_helper, wait=True)
    return merge.finish(blocks.torn, cached)


def default_exact(time_filter: TimeFilter) -> ExactState:
    """Envelope selection by the record timestamps in the filter's window, nothing routed."""
    start, end = time_filter.bounds
    return ExactState(start, end, None, {})


def scan(
    sources: list[SourceFile],
    time_filter: TimeFilter,
    missing: MissingTimestamp,
    progress: Callable[[int], None] | None = None,
    cache_bytes: int = 0,
    exact: ExactState | None = None,
) -> Plan:
    """Every source in order. Envelope files share one ExactState (`exact`, or by default the
    record timestamps in the window), so offsets carry across files."""
    budget = CacheBudget(cache_bytes) if cache_bytes > 0 else None
    if exact is None and any(
        s.sink is not None and s.sink.sink_format is SinkFormat.ENVELOPE for s in sources
    ):
        exact = default_exact(time_filter)
    plain = sum(
        source.size
        for source in sources
        if not source.compressed
        and not (source.sink is not None and source.sink.sink_format is SinkFormat.ENVELOPE)
    )
    include_missing = missing is MissingTimestamp.INCLUDE
    with scan_helper(plain, time_filter, include_missing) as helper:
        files = [
            scan_file(source, time_filter, missing, progress, budget, exact, helper)
            for source in sources
        ]
    return Plan(files, exact)
