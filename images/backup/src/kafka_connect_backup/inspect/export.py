"""`kcb snapshots export`: the record values of one topic in a time window, read from a
snapshot without Kafka, one per line in file order.

It is the restore pipeline without the send: the same sources (`sources.from_snapshot`), the
same scan and time rules (`plan.scan`), the same planned lines (`replay.planned_segments`), so
its counts are a restore dry run's counts.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from kafka_connect_backup.core.durable import atomic_writer
from kafka_connect_backup.core.exit_codes import RestoreError
from kafka_connect_backup.kafka.timefilter import FieldReader, MissingTimestamp, TimeFilter
from kafka_connect_backup.restore.plan import Plan, default_exact, scan
from kafka_connect_backup.restore.replay import planned_segments
from kafka_connect_backup.restore.sources import SourceFile

STDOUT = "-"
# The scan keeps up to this much of the files for the write, so most are read once.
CACHE_BYTES = 256 << 20


class OutputError(RestoreError):
    """The export's output could not be written (exit 1: the arguments were fine)."""


def write_records(plan: Plan, out: IO[bytes]) -> int:
    """Every planned line of the plan, newline-terminated, in file order; returns the count."""
    written = 0
    for file_plan in plan.files:
        for segment in planned_segments(file_plan):
            out.write(b"\n".join(segment))
            out.write(b"\n")
            written += len(segment)
    return written


@contextlib.contextmanager
def output(target: str) -> Iterator[IO[bytes]]:
    """stdout for `-`; else a temporary file beside the target, renamed over it once complete
    (a failed or interrupted export never leaves half a file under the name)."""
    if target == STDOUT:
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    with atomic_writer(Path(target)) as out:
        yield out


def export(
    sources: list[SourceFile],
    time_filter: TimeFilter,
    missing: MissingTimestamp,
    target: str,
    envelope_field: str | None = None,
) -> Plan:
    """envelope_field: envelope files select by this field of the value (--timestamp-field
    given), as restore.py does, instead of the record timestamps."""
    exact = None
    if envelope_field is not None:
        exact = dataclasses.replace(default_exact(time_filter), reader=FieldReader(envelope_field))
    plan = scan(sources, time_filter, missing, cache_bytes=CACHE_BYTES, exact=exact)
    try:
        with output(target) as out:
            write_records(plan, out)
    except BrokenPipeError:
        if target == STDOUT:  # `| head`: the reader is done; the CLI ends quietly
            raise
        raise OutputError(f"cannot write {target}: {os.strerror(errno.EPIPE)}") from None
    except OSError as exc:  # ENOSPC, EDQUOT, EIO: the temporary file is already removed
        where = "stdout" if target == STDOUT else target
        left = "" if target == STDOUT else f"; nothing was left under {target}"
        raise OutputError(
            f"cannot write {where}: {exc.strerror or exc}{left} (free space there, or write "
            "elsewhere with -o)"
        ) from None
    return plan
