"""The one record store: the small JSON files the package keeps on its volumes (the supervisor's
state, the last drill and verification, connector holds, the restore journal, the marker of a
backup run in progress), read into typed records and written durably (core/durable.py).

A record type is a msgspec Struct (or anything msgspec converts to, such as the journal's
free-form dict); a Struct's `rename` gives the keys in the file. Keys a record does not know are
ignored, so a file written by a newer version still reads. msgspec, not pydantic: restore.py
reads holds and its journal and starts without pydantic (a third of its start-up,
tests/unit/test_restore_startup.py), and it loads msgspec anyway for the records it replays.

Reading a file can fail only one way: RecordUnreadable, naming the file and the cause (torn
JSON, a field missing or of another type, an I/O error). A missing file is no error: None.
Parsing is the standard library's, so the cause reads as before (`JSONDecodeError: ...`), and
a file is written as json.dumps writes it, byte for byte what the hand-written savers did."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Protocol, TypeVar

import msgspec

from kafka_connect_backup.core.durable import atomic_write_text
from kafka_connect_backup.core.errors import KcbError

T = TypeVar("T")


class _Logger(Protocol):
    def warning(self, event: str, **fields: Any) -> Any: ...


class RecordUnreadable(KcbError):
    """A record file exists but holds no valid record: `reason` is the cause in one line
    (`JSONDecodeError: ...`, `ValidationError: ...`), `error` the exception behind it."""

    cause = "record_unreadable"

    def __init__(self, path: Path, error: Exception) -> None:
        self.path = path
        self.error = error
        self.reason = f"{type(error).__name__}: {error}"
        super().__init__(f"{path} cannot be read ({self.reason})")


def load(path: Path, kind: type[T]) -> T | None:
    """The record in `path`; None when there is no such file; RecordUnreadable otherwise."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:  # ValueError: not UTF-8
        raise RecordUnreadable(path, exc) from exc
    try:
        return msgspec.convert(json.loads(text), type=kind)
    except (ValueError, msgspec.ValidationError) as exc:
        raise RecordUnreadable(path, exc) from exc


def save(path: Path, record: object, *, indent: int | None = None, sort_keys: bool = False) -> None:
    """Replace `path` with `record` durably (the directory must exist); OSError when it cannot
    be written. With `indent` (a file people read: the drill's record, the journal) the text
    ends with a newline."""
    data = msgspec.to_builtins(record)
    text = json.dumps(data, indent=indent, sort_keys=sort_keys)
    atomic_write_text(path, text + "\n" if indent is not None else text)


def save_or_warn(
    path: Path, record: object, log: _Logger, event: str, fix: str = "", **options: Any
) -> bool:
    """save() for a record whose loss costs only the record, never the work it records: False
    and a warning `event` (path, error, fix) when it cannot be written. `options` as save's."""
    try:
        save(path, record, **options)
    except OSError as exc:
        log.warning(event, path=str(path), error=str(exc), **({"fix": fix} if fix else {}))
        return False
    return True
