"""A second CPU for the scan: a forked helper process that classifies some of a file's line
batches while the restore process reads, checks and caches the file.

The scan is the restore's only CPU-bound step before the send (one JSON parse and one ISO
parse per line), and it must finish before anything is sent. The helper reads the batches it
is given from the file itself, by offset (`os.pread`), so no line crosses the pipe: only the
request (path, offset, length, the batch's last bytes) and the classification (one byte per
line and the counts) do; the scan neither splits nor counts the lines of a batch it hands
over. The scan hands it a batch whenever it has fewer than `DEPTH` batches waiting and
classifies the others itself, so the two share the work whatever else runs on the machine;
the merge is in file order, so the plan is the one a serial scan makes.

A batch the helper could not classify exactly as read by the scan (the file replaced,
shorter than the scan saw it, other bytes at the batch's end, or any error) comes back as
None and the scan classifies it itself. Only uncompressed files are handed over (a .gz has no
offsets to seek to). Fork, not spawn: the child has the parent's modules and time filter at
no cost, and it only runs Python code that touches none of the parent's Kafka clients.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING

from kafka_connect_backup.restore.classify import BatchResult, classify_batch

if TYPE_CHECKING:
    from kafka_connect_backup.kafka.timefilter import TimeFilter

# Batches waiting at the helper: enough that it never idles while the scan reads the next one.
DEPTH = 2
# Less than this in uncompressed files is scanned in less time than a fork costs to pay off.
MIN_BYTES = 16 << 20
# Bytes at the end of a batch the helper compares with what the scan read there.
TAIL = 256


@dataclass(frozen=True)
class Job:
    path: str
    identity: tuple[int, int]  # (st_dev, st_ino) of the file the scan reads
    offset: int
    length: int
    tail: bytes  # the batch's last TAIL bytes as the scan read them


def _read_range(fd: int, offset: int, length: int) -> bytes:
    parts = []
    while length > 0:
        part = os.pread(fd, length, offset)
        if not part:
            break
        parts.append(part)
        offset += len(part)
        length -= len(part)
    return b"".join(parts)


def _serve(conn: Connection, time_filter: TimeFilter, include_missing: bool) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the restore process handles Ctrl-C
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    fds: dict[str, int] = {}
    while True:
        try:
            job: Job | None = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        result: BatchResult | None = None
        try:
            fd = fds.get(job.path)
            if fd is None:
                fd = fds[job.path] = os.open(job.path, os.O_RDONLY)
            stat = os.fstat(fd)
            data = _read_range(fd, job.offset, job.length)
            if (
                (stat.st_dev, stat.st_ino) == job.identity
                and len(data) == job.length
                and data.endswith(job.tail)
                and data.endswith(b"\n")
            ):
                lines = data.split(b"\n")
                lines.pop()
                result = classify_batch(lines, time_filter, include_missing)
        except Exception:  # noqa: BLE001 (the scan classifies the batch itself)
            result = None
        try:
            conn.send(result)
        except (BrokenPipeError, OSError):
            return


class ScanHelper:
    """The parent's side: submit jobs, take their results in submission order."""

    def __init__(self, conn: Connection, process: multiprocessing.process.BaseProcess) -> None:
        self._conn = conn
        self._process = process
        self._sent = 0
        self._received = 0
        self._results: dict[int, BatchResult | None] = {}
        self.broken = False

    @property
    def waiting(self) -> int:
        return self._sent - self._received

    def can_take(self) -> bool:
        self._drain()
        return not self.broken and self.waiting < DEPTH

    def submit(self, job: Job) -> int:
        ticket = self._sent
        self._sent += 1
        try:
            self._conn.send(job)
        except (BrokenPipeError, OSError):
            self._break()
        return ticket

    def ready(self, ticket: int) -> bool:
        self._drain()
        return ticket in self._results

    def result(self, ticket: int) -> BatchResult | None:
        """The helper's classification of the ticket's batch (None: classify it yourself)."""
        while ticket not in self._results:
            self._receive()
        return self._results.pop(ticket)

    def _drain(self) -> None:
        while self.waiting and self._poll():
            self._receive()

    def _poll(self) -> bool:
        try:
            return self._conn.poll(0)
        except (EOFError, OSError):
            return True  # _receive records the break

    def _receive(self) -> None:
        try:
            self._results[self._received] = self._conn.recv()
        except (EOFError, OSError):
            self._break()
            return
        self._received += 1

    def _break(self) -> None:
        """The helper died: every batch it still had is the scan's to classify."""
        self.broken = True
        for pending in range(self._received, self._sent):
            self._results[pending] = None
        self._received = self._sent

    def close(self) -> None:
        with contextlib.suppress(OSError, BrokenPipeError):
            self._conn.send(None)
        self._conn.close()
        self._process.join(timeout=5)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@contextmanager
def scan_helper(
    plain_bytes: int, time_filter: TimeFilter, include_missing: bool
) -> Iterator[ScanHelper | None]:
    """A helper for a scan of this many uncompressed bytes, or None when it would not pay
    (one CPU, little data) or cannot be started."""
    if (
        plain_bytes < MIN_BYTES
        or _cpus() < 2
        or "fork" not in multiprocessing.get_all_start_methods()
    ):
        yield None
        return
    context = multiprocessing.get_context("fork")
    parent, child = context.Pipe()
    process = context.Process(
        target=_serve, args=(child, time_filter, include_missing), daemon=True, name="kcb-scan"
    )
    try:
        process.start()
    except OSError:
        parent.close()
        child.close()
        yield None
        return
    child.close()
    helper = ScanHelper(parent, process)
    try:
        yield helper
    finally:
        helper.close()
