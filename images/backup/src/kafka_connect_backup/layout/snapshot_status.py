"""Whether a snapshot is complete: the completeness marker, and the status every reader uses.

After the supervisor verified `alpha.0` against its source, it writes `MARKER_NAME` at the
snapshot's top level, beside `localhost/` (so restore, which reads sink files below the
snapshot, never takes it for data), holding what makes the snapshot checkable later:

    {"format": 1, "verified": true, "finished": "2026-12-01T10:00:00Z",
     "files": 3, "bytes": 12345,                    # the backed-up files checked
     "listing": {"entries": 3, "sha256": "..."}}    # digest of localhost/'s listing

`listing` digests the (relative path, size, mtime ns) of every file under `localhost/` (the
one `fingerprint`). A snapshot is **complete** only when its marker says verified and the
digest still matches its content. That is what makes rsnapshot's rotation safe to judge:
`cp -al alpha.0 alpha.1` hard-links the marker into alpha.1 (same content, still matching),
then rsync changes `alpha.0/localhost/` while alpha.0 still holds the old marker, whose digest
no longer matches: a run cut short there leaves an alpha.0 that is **incomplete**. The marker is
always replaced atomically (a new inode), so alpha.1's hard link keeps the old one.

A failed verification writes a marker with `"verified": false` and the problem, so the reason
is known later. A snapshot without any marker was made by an older version (e.g. the original
chart) and is **unverified**: listed as such, restorable, never discarded for it. Unless it
holds a topic metadata file (`*.topic.json`): every version that writes those also marks every
snapshot it makes, so such a snapshot without a marker lost it (deleted, or the run was cut
short before writing it) and is **incomplete**.

rsync writes each file to a temporary `.{name}.XXXXXX` beside it and renames it when done; a
killed rsync leaves it behind. `is_rsync_temp` recognises those names; no real backed-up file
(`*.sink`, `*.gz`) can match, because its last six characters always hold a dot.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from kafka_connect_backup.core.durable import atomic_write_text
from kafka_connect_backup.core.errors import KcbError
from kafka_connect_backup.core.units import utc_iso
from kafka_connect_backup.layout.names import (
    ALL_LEVELS,
    BACKED_UP_PATTERNS,
    HOST_DIR,
    MARKER_NAME,
)
from kafka_connect_backup.layout.sinkfiles import is_metadata_name
from kafka_connect_backup.layout.snapshot_dirs import (
    SnapshotDir,
    fingerprint,
    parse_quarantine_name,
    quarantined_dirs,
    snapshot_dirs,
)

# The marker's `committedOffsets`: connector -> partition (a string: JSON keys) -> the offset
# its sink group had committed when the cycle stopped it (supervisor/offsets.py).
Committed = dict[str, dict[str, int]]
MARKER_FORMAT = 1

# rsync's get_tmpname: "." + the name (its own leading dot dropped, cut to 246 characters when
# longer) + "." + six characters of mkstemp.
_RSYNC_TEMP = re.compile(r"^\.(?P<name>.+)\.[A-Za-z0-9]{6}$")
_RSYNC_TRUNCATED = 246


class State(StrEnum):
    COMPLETE = "complete"
    INCOMPLETE = "incomplete"
    UNVERIFIED = "unverified"


@dataclass(frozen=True)
class Status:
    state: State
    reason: str | None = None  # why it is not complete
    finished: str | None = None  # when its verification finished (from the marker)
    quarantined: bool = False  # a `_incomplete.alpha.N.{epoch}` directory

    def describe(self) -> str:
        """`complete`, `incomplete: <reason>`, `unverified (no marker)`."""
        if self.state is State.UNVERIFIED:
            return "unverified (no marker)"
        return self.state.value if self.reason is None else f"{self.state.value}: {self.reason}"


NO_MARKER = (
    "no completeness marker: made by an older version (e.g. the original chart), not verified "
    "by this one"
)
MARKER_LOST = (
    "no completeness marker, but it holds topic metadata files (*.topic.json), which only "
    "versions that mark every snapshot they make write: its marker was deleted, or the run "
    "that made it was cut short before writing it"
)


def _made_by_a_marking_version(snapshot: Path) -> bool:
    try:
        return any(is_metadata_name(p.name) for p in (snapshot / HOST_DIR).iterdir())
    except OSError:
        return False


def listing_digest(snapshot: Path) -> tuple[int, str]:
    """(entries, sha256) of the listing of snapshot/localhost/: path, size, mtime ns."""
    entries = sorted(fingerprint(snapshot / HOST_DIR))
    text = json.dumps(entries, separators=(",", ":"))
    return len(entries), hashlib.sha256(text.encode()).hexdigest()


def marker_document(
    *, verified: bool, entries: int, digest: str, finished: datetime, **details: Any
) -> dict[str, Any]:
    return {
        "format": MARKER_FORMAT,
        "verified": verified,
        "finished": utc_iso(finished),
        **details,
        "listing": {"entries": entries, "sha256": digest},
    }


def write_marker(snapshot: Path, *, verified: bool, **details: Any) -> dict[str, Any]:
    """Replace snapshot's marker (atomically: a new inode, so a hard link of the previous
    marker in an older snapshot keeps its content) with one describing its content now."""
    entries, digest = listing_digest(snapshot)
    document = marker_document(
        verified=verified, entries=entries, digest=digest, finished=datetime.now(UTC), **details
    )
    atomic_write_text(snapshot / MARKER_NAME, json.dumps(document, indent=1) + "\n")
    return document


def judge(marker_text: str | None, digest: str) -> Status:
    """The status of a snapshot whose marker holds marker_text (None: no marker) and whose
    content has the listing digest `digest`. Pure: the rule itself."""
    if marker_text is None:
        return Status(State.UNVERIFIED, NO_MARKER)
    try:
        document = json.loads(marker_text)
        verified = document["verified"]
        finished = document.get("finished")
        recorded = document["listing"]["sha256"]
        if not isinstance(verified, bool) or not isinstance(recorded, str):
            raise TypeError("verified must be a boolean and listing.sha256 a string")
    except (ValueError, KeyError, TypeError) as exc:
        detail = exc if not isinstance(exc, KeyError) else f"missing {exc}"
        return Status(State.INCOMPLETE, f"its completeness marker is unreadable ({detail})")
    if not verified:
        problem = document.get("problem") or "no detail recorded"
        return Status(State.INCOMPLETE, f"its verification failed: {problem}", finished)
    if recorded != digest:
        return Status(
            State.INCOMPLETE,
            f"its content changed after the verification of {finished} (a backup run was cut "
            "short while rsync was writing it)",
            finished,
        )
    return Status(State.COMPLETE, None, finished)


def snapshot_status(snapshot: Path) -> Status:
    """The status of an `alpha.N` (or a set-aside `_incomplete.*`) directory."""
    try:
        text: str | None = (snapshot / MARKER_NAME).read_text(encoding="utf-8")
    except FileNotFoundError:
        text = None
    except (OSError, UnicodeDecodeError) as exc:
        text = f"<unreadable: {exc}>"  # judged unreadable below
    if text is None and _made_by_a_marking_version(snapshot):
        status = Status(State.INCOMPLETE, MARKER_LOST)
    else:
        status = judge(text, listing_digest(snapshot)[1])
    aside = parse_quarantine_name(snapshot.name)
    if aside is None:
        return status
    original, epoch = aside
    when = utc_iso(epoch)
    return Status(
        State.INCOMPLETE,
        f"set aside by the interrupted-run cleanup at {when} (it was {original}, and its "
        "content matched no snapshot from before the cut-short run); check it, then delete it",
        status.finished,
        quarantined=True,
    )


def is_rsync_temp(name: str) -> bool:
    """Whether name is a temporary file rsync writes beside a backed-up file."""
    match = _RSYNC_TEMP.match(name)
    if match is None:
        return False
    inner = match.group("name")
    return len(inner) == _RSYNC_TRUNCATED or any(
        fnmatchcase(inner, pattern) for pattern in BACKED_UP_PATTERNS
    )


def recorded_offsets(marker: dict[str, object], connector: str) -> dict[int, int] | None:
    """The offsets the connector's group had committed at the snapshot's stop (partition ->
    offset), from the marker; None when none were recorded for it. ValueError, naming the
    value, when the marker holds something else there (a hand-edited or damaged marker)."""
    committed = marker.get("committedOffsets")
    if not isinstance(committed, dict):
        return None
    offsets = committed.get(connector)
    if not isinstance(offsets, dict) or not offsets:
        return None
    found: dict[int, int] = {}
    for partition, offset in offsets.items():
        if not (
            isinstance(partition, str)
            and partition.isascii()
            and partition.isdigit()
            and offset.__class__ is int
            and offset >= 0
        ):
            raise ValueError(
                f"its completeness marker's committedOffsets of {connector} holds "
                f"{partition!r}: {offset!r}, not a partition number and an offset"
            )
        found[int(partition)] = offset
    return found


def taken_at(snapshot: Path) -> datetime:
    """When a snapshot was taken: its marker's `finished` (kept when rsnapshot promotes
    hourly.23 to daily.0: the snapshot's data is from then), else the directory's mtime (a
    snapshot of an older version, or one without a readable marker)."""
    try:
        document = json.loads((snapshot / MARKER_NAME).read_text(encoding="utf-8"))
        moment = datetime.fromisoformat(document["finished"])
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError):
        return datetime.fromtimestamp(snapshot.stat().st_mtime, UTC)


class NoSnapshotChosen(KcbError):
    """No complete or unverified snapshot at or before the time asked for."""

    cause = "no_snapshot"


def choose_snapshot(root: Path, at: datetime | None) -> tuple[SnapshotDir, str]:
    """The newest complete (or unverified: an older version's) snapshot of any level taken at
    or before `at` (taken_at; None: the newest of all), and the plan's line saying why, e.g.
    `daily.3, taken 2026-12-01T00:00:05Z: the newest at or before 2026-12-01T06:00:00Z`.
    Incomplete snapshots and set-aside directories are never chosen: those newer than the
    choice are named in the line. NoSnapshotChosen, naming the oldest snapshot, when none
    qualifies. Equal times (a snapshot promoted to a higher level keeps its marker) go to the
    lower level."""
    found = [(taken_at(s.path), s) for s in snapshot_dirs(root)]
    wanted = "the newest snapshot" if at is None else f"the newest at or before {utc_iso(at)}"
    candidates = sorted(
        ((moment, s) for moment, s in found if at is None or moment <= at),
        key=lambda pair: (pair[0], -ALL_LEVELS.index(pair[1].level), -pair[1].index),
        reverse=True,
    )
    aside = [(taken_at(path), path.name) for path in quarantined_dirs(root)]
    aside = [(moment, name) for moment, name in aside if at is None or moment <= at]
    skipped: list[str] = []
    for moment, snapshot in candidates:
        if snapshot_status(snapshot.path).state is State.INCOMPLETE:
            skipped.append(f"{snapshot.name} (incomplete)")
            continue
        skipped += [f"{name} (set aside)" for when, name in aside if when > moment]
        note = f"; skipped {', '.join(skipped)}" if skipped else ""
        return snapshot, f"{snapshot.name}, taken {utc_iso(moment)}: {wanted}{note}"
    if not found:
        raise NoSnapshotChosen(
            f"no snapshot in {root}",
            fix="mount the backup, or give --snapshot-root where the {level}.N directories "
            "are (before the first backup cycle there is none)",
        )
    oldest_at, oldest = min(found, key=lambda pair: pair[0])
    if not candidates:
        raise NoSnapshotChosen(
            f"no snapshot in {root} was taken at or before {utc_iso(at or oldest_at)}: the "
            f"oldest is {oldest.name}, taken {utc_iso(oldest_at)}",
            fix=f"give a time at or after {utc_iso(oldest_at)}",
        )
    raise NoSnapshotChosen(
        f"no snapshot in {root}{'' if at is None else f' taken at or before {utc_iso(at)}'} "
        f"is complete or unverified: skipped {', '.join(skipped)}",
        fix="kcb snapshots list shows each one's status; give --snapshot NAME with "
        "--allow-incomplete to read an incomplete one anyway",
    )
