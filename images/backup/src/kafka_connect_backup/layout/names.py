"""Every name the package reserves on the data and backup volumes, and where rsnapshot puts
things (tools/rsnapshot.py renders its config from these): one module, so a newcomer sees at
once what else lives beside the sink files and the snapshots, and two modules cannot disagree
on a name. Readers of snapshots import it without the runner and its logging."""

from __future__ import annotations

# --- The backup volume (rsnapshot's snapshot_root, decrypted view) ---

# The original's one level (`backup.retention`): every cycle's snapshot is `alpha.0`.
LEVEL = "alpha"
NEWEST_SNAPSHOT = f"{LEVEL}.0"  # what a finished run just wrote; alpha.1 is the one before
# `backup.keep`'s levels, lowest first: the lowest configured one takes every cycle's snapshot,
# each higher one is fed by the oldest snapshot of the one below (rsnapshot's `retain` levels).
KEEP_LEVELS = ("hourly", "daily", "weekly", "monthly")
# Every level a snapshot directory `{level}.{N}` may have, in listing order: a volume moved from
# backup.retention to backup.keep still holds its alpha.N, listed and restorable.
ALL_LEVELS = (LEVEL, *KEEP_LEVELS)
HOST_DIR = "localhost"  # `backup {source} localhost/`: alpha.N/localhost/{file}
# `sync_first 1`: `rsnapshot sync` updates `.sync/localhost/`, then `rsnapshot alpha` rotates
# and hard-links `.sync` as alpha.0. Not a snapshot: no listing shows it.
SYNC_DIR = ".sync"
# What rsnapshot.conf includes (the original chart's rules, and each topic's metadata file,
# kafka/topic_metadata.py): `*.sink`, `*.gz` and `*.topic.json` directly in the source
# directory, nothing below it.
BACKED_UP_PATTERNS = ("*.sink", "*.gz", "*.topic.json")
# A snapshot's completeness marker, at alpha.N's top level (layout/snapshot_status.py).
MARKER_NAME = ".kcb-snapshot.json"
# In snapshot_root, not an alpha.N: a run in progress (supervisor/backup/interrupted.py);
# rsnapshot and every listing leave it alone.
RUN_MARKER = ".kcb-run-in-progress.json"
# Written and removed in `.sync/localhost/` to show the copy can write there (sync_copy.py).
WRITE_PROBE_NAME = ".kcb-write-probe"
# The snapshot copy's temporary name of a file in `.sync` (no backed-up pattern matches it).
COPY_TEMP_PREFIX = ".kcb-copy-"
COPY_TEMP_SUFFIX = ".part"

# --- The data volume (sinkPath, beside the sink files) ---

# The compressor's temporary name beside the `.gz` it writes (supervisor/compress.py).
COMPRESS_TEMP_SUFFIX = ".kcb-tmp"
STAGING_DIR = ".kcb-staging"  # frozen files of a staged cycle (supervisor/staging.py)
LOCK_NAME = ".kcb-supervisor.lock"  # one supervisor per data volume (supervisor/volume_lock.py)
STATE_NAME = ".kcb-state.json"  # the supervisor's last cycle (supervisor/state.py)
HOLD_DIR = ".kcb-holds"  # connectors a restore keeps stopped (connect/hold.py)
VERIFY_NAME = ".kcb-verify.json"  # the last verification (inspect/verify_record.py)
DRILL_NAME = ".kcb-drill.json"  # the last restore drill (inspect/drill_record.py)
# The restore runbook's journals (restore/runbook/journal.py): one per topic while it runs,
# archived with the time it finished; `kcb status` lists the running ones.
RESTORE_DIR = ".kcb-restore"
JOURNAL_PREFIX = "restore-"
JOURNAL_DONE_SUFFIX = ".done.json"


def journal_name(topic: str) -> str:
    """The journal of a runbook restoring `topic`, in RESTORE_DIR (or --state-dir)."""
    return f"{JOURNAL_PREFIX}{topic}.json"


def archived_journal_name(stem: str, stamp: str) -> str:
    """A finished runbook's journal `{stem}.json` kept as `{stem}.{stamp}.done.json`."""
    return f"{stem}.{stamp}{JOURNAL_DONE_SUFFIX}"


def is_running_journal(name: str) -> bool:
    """A journal of a runbook that has not finished (not archived)."""
    return (
        name.startswith(JOURNAL_PREFIX)
        and name.endswith(".json")
        and not name.endswith(JOURNAL_DONE_SUFFIX)
    )


def is_copy_temp(name: str) -> bool:
    """A temporary file of the snapshot copy (`COPY_TEMP_PREFIX...COPY_TEMP_SUFFIX`)."""
    return name.startswith(COPY_TEMP_PREFIX) and name.endswith(COPY_TEMP_SUFFIX)
