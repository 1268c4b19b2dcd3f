"""rsnapshot: render its config (the original chart's include/exclude and rsync arguments) and
run its `sync` (rsync into `.sync/`) and level steps (rotations: `alpha`, or `hourly`, `daily`,
...), mapping its failures to causes an operator can act on."""

from __future__ import annotations

import errno
import re
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

from kafka_connect_backup.core.durable import atomic_write_text
from kafka_connect_backup.core.errors import KcbError
from kafka_connect_backup.core.logs import get_logger
from kafka_connect_backup.core.shutdown_grace import GraceWatch, ShutdownGrace, StoppedPastGrace
from kafka_connect_backup.core.units import took

# Re-exported (`X as X`): the supervisor and the tests import them from here.
from kafka_connect_backup.layout.names import BACKED_UP_PATTERNS as BACKED_UP_PATTERNS
from kafka_connect_backup.layout.names import HOST_DIR as HOST_DIR
from kafka_connect_backup.layout.names import LEVEL as LEVEL
from kafka_connect_backup.layout.names import SYNC_DIR as SYNC_DIR
from kafka_connect_backup.tools.run import TimedOut
from kafka_connect_backup.tools.run import run as run_command

# --no-owner --no-group: a snapshot's files are the supervisor's (root's), not the Connect user's.
# Restores only read them, and keeping the sink files' owner would need CAP_CHOWN (and then
# CAP_DAC_OVERRIDE and CAP_FOWNER to rotate what that owner holds): with them left out, the
# chart's devicePlugin mode runs the cycle with CAP_SYS_ADMIN alone.
RSYNC_LONG_ARGS = "--delete --no-owner --no-group --no-links --delete-excluded"
# rsnapshot exits 2 when it finished with warnings (e.g. rsync's "some files vanished").
EXIT_WARNING = 2
# rsnapshot's steps, with `sync_first 1`: rsync the source into `.sync/`, then rotate the
# alpha.N and hard-link `.sync` as alpha.0.
SYNC = "sync"

log = get_logger(__name__)


class RsnapshotStopped(StoppedPastGrace):
    """rsnapshot stopped after the grace period: what it wrote is incomplete."""


@dataclass(frozen=True)
class RsnapshotRun:
    seconds: float
    exit_code: int
    output: str


def command(name: str) -> str:
    """The absolute path of one of the commands rsnapshot runs (cp, rm, rsync, rsnapshot)."""
    return shutil.which(name) or f"/usr/bin/{name}"


def backed_up_files(source_dir: Path) -> list[Path]:
    """The files the rendered config makes rsnapshot copy: regular `*.sink` / `*.gz` /
    `*.topic.json` files directly in source_dir (the one selection the snapshot check and
    the staging use)."""
    return sorted(
        path
        for path in source_dir.iterdir()
        if any(fnmatchcase(path.name, pattern) for pattern in BACKED_UP_PATTERNS)
        and path.is_file()
        and not path.is_symlink()
    )


def render_config(
    *, snapshot_root: Path, source_dir: Path, levels: Mapping[str, int], lockfile: Path
) -> str:
    """rsnapshot.conf text. rsnapshot requires TABs between fields and a trailing slash on
    directories. Only `*.sink`, `*.gz` and `*.topic.json` files directly in the source are
    backed up. `levels` (config.backup.levels: `{alpha: retention}` or backup.keep's levels)
    become one `retain` line each, lowest first: rsnapshot feeds each level from the one
    listed before it."""
    lines = [
        ("config_version", "1.2"),
        ("snapshot_root", f"{str(snapshot_root).rstrip('/')}/"),
        # The root is created (and checked to be on the mounted volume) by the caller: never
        # let rsnapshot create it on whatever lies underneath a missing mount.
        ("no_create_root", "1"),
        ("cmd_cp", command("cp")),
        ("cmd_rm", command("rm")),
        ("cmd_rsync", command("rsync")),
        *(("retain", f"{level}\t{count}") for level, count in levels.items()),
        # `rsnapshot sync` updates .sync/ (which supervisor/backup/sync_copy.py fills first, faster
        # than rsync through FUSE), `rsnapshot {lowest level}` only rotates: a stopped copy
        # touches no snapshot.
        ("sync_first", "1"),
        # 3 echoes each command and lets rsync's own errors through (2 swallows them, and
        # with them the "No space left on device" that tells a full disk from other failures).
        ("verbose", "3"),
        ("loglevel", "3"),
        ("lockfile", str(lockfile)),
        ("rsync_long_args", RSYNC_LONG_ARGS),
        *(("include", pattern) for pattern in BACKED_UP_PATTERNS),
        ("exclude", "*"),
        ("backup", f"{str(source_dir).rstrip('/')}/\t{HOST_DIR}/"),
    ]
    header = "# Rendered by kafka-connect-backup; fields are TAB-separated (rsnapshot needs it).\n"
    return header + "".join(f"{key}\t{value}\n" for key, value in lines)


def write_config(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, text)


# A command's own error line, such as `/usr/bin/cp: cannot create directory '...': Read-only
# file system`: the reason, where rsnapshot's ERROR line only says that the command failed.
_TOOL_ERROR = re.compile(r"^(\S*/)?(cp|rm|mv|mkdir|touch|rsync|ln)(:| error:) ")


def _errors(output: str) -> str:
    """The error lines of rsnapshot's (verbose) output, or its last lines if none is marked."""
    lines = output.strip().splitlines()
    marked = [
        line
        for line in lines
        if line.startswith(("rsync", "ERROR", "WARNING")) or _TOOL_ERROR.match(line)
    ]
    return "\n".join((marked or lines)[-10:])


def _failure(conf: Path, step: str, lockfile: Path, code: int, output: str) -> KcbError:
    tail = _errors(output)
    lowered = output.lower()
    if "no space left on device" in lowered or f"({errno.ENOSPC})" in output:
        return KcbError(
            f"rsnapshot ran out of disk space on the backup volume (exit {code}): {tail}",
            fix="free space on the backup target or lower backup.retention (pruned next cycle)",
            cause="disk_full",
        )
    if "lockfile" in lowered and ("exists" in lowered or "can not continue" in lowered):
        return KcbError(
            f"rsnapshot lock {lockfile} is held by another running rsnapshot: {tail}",
            fix="wait for the other run to finish; remove the lock file only if no rsnapshot "
            "process is running",
            cause="rsnapshot_locked",
        )
    return KcbError(
        f"rsnapshot -c {conf} {step} failed (exit {code}): {tail}",
        fix="read the rsnapshot output above; the next cycle retries",
        cause="rsnapshot_failed",
    )


def run(
    conf: Path,
    lockfile: Path,
    step: str = LEVEL,
    *,
    timeout: float | None = None,
    grace: ShutdownGrace | None = None,
) -> RsnapshotRun:
    """Run `rsnapshot -c conf {step}` (SYNC or a level of the config). Raises KcbError (disk_full,
    rsnapshot_locked, rsnapshot_failed); exit 2 (warnings) is returned for the caller's
    verification to judge.

    Once a shutdown is requested, rsnapshot may go on until the grace runs out; then it is
    stopped as below and RsnapshotStopped raised: what it wrote (alpha.0, or `.sync` for SYNC)
    is then incomplete and the caller must discard it. (Requested before the start, the grace
    counts from the first look: the step the cycle is in still gets its chance to finish.)

    If interrupted (an exception such as KeyboardInterrupt while waiting), rsnapshot and its
    rsync children get SIGTERM (rsnapshot removes its lock file, rsync its partial file) and
    are waited for, so nothing keeps writing into the mount that is about to be unmounted.
    """
    start = time.monotonic()
    watch = GraceWatch(
        grace or ShutdownGrace(),
        "rsnapshot.shutdown_grace",
        "shutdown requested: rsnapshot may finish within shutdownGraceSeconds",
        lambda: RsnapshotStopped(
            f"rsnapshot -c {conf} {step} still running {watch.grace.seconds:g}s after the "
            f"shutdown request (shutdownGraceSeconds, {took(time.monotonic() - start)} in all): "
            "stopped it",
            fix="nothing to do: the incomplete snapshot is discarded and the next start "
            "takes a new one; if snapshots take longer than the grace, raise "
            "shutdownGraceSeconds together with the pod's terminationGracePeriodSeconds",
        ),
    )
    try:
        done = run_command(
            [command("rsnapshot"), "-c", str(conf), step],
            timeout=timeout,
            watch=watch,
            session=True,  # a terminal's Ctrl-C reaches us, not rsnapshot mid-copy
        )
    except RsnapshotStopped:
        log.warning("rsnapshot.stopped", conf=str(conf), step=step)
        raise
    except TimedOut:
        raise KcbError(
            f"rsnapshot -c {conf} {step} did not finish within {timeout:.0f}s; stopped it",
            fix="check the backup volume's speed; the next cycle retries",
            cause="rsnapshot_failed",
        ) from None
    code, text, seconds = done.exit_code, done.output, done.seconds
    if code not in (0, EXIT_WARNING):
        raise _failure(conf, step, lockfile, code, text)
    if code == EXIT_WARNING:
        log.warning("rsnapshot.warnings", conf=str(conf), output=_errors(text))
    log.debug("rsnapshot.output", output=text.strip()[-4000:])
    return RsnapshotRun(seconds, code, text)
