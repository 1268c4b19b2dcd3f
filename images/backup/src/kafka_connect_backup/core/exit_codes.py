"""Every exit code of `kcb` and restore.py, and the root of restore's errors: every error
restore.py can end with is a RestoreError that carries its exit code and how it is shown, so
the CLI and the runbook map them in one place instead of by hand."""

from __future__ import annotations

import signal


def signal_exit_code(signum: int) -> int:
    """The code of a process ended by signal `signum`, as a shell reports it (128 + signum)."""
    return 128 + signum


# Exit codes of restore.py (documented in its --help), and of `kcb` commands: 0 done, 1 done
# and found something wrong (the cycle failed, the backup is unhealthy), 2 could not run (bad
# arguments or config, the volume locked by another process, the supervisor refused).
EXIT_OK = 0
EXIT_FAILED = 1  # records failed delivery, or a runbook step failed
EXIT_INVALID = 2  # bad arguments or sources: nothing was sent
EXIT_UNREACHABLE = 3  # Kafka / Connect unreachable, or the topic is unknown: nothing was sent
EXIT_NOT_CONFIRMED = 4  # the operator did not answer yes (or could not be asked)
EXIT_INTERRUPTED = signal_exit_code(signal.SIGINT)  # 130: Ctrl-C or SIGTERM
# `kcb snapshots export ... | head`: the reader went away; what a tool killed by SIGPIPE reports.
EXIT_BROKEN_PIPE = signal_exit_code(signal.SIGPIPE)

# The same codes, named for what `kcb snapshots` and `kcb drill` mean by them (their --help).
EXIT_NO_SNAPSHOT = EXIT_FAILED  # `snapshots list`: no alpha.N (with --topic: none of the topic)
EXIT_PROBLEM = EXIT_FAILED  # `snapshots verify`: a snapshot not complete, or a file's problem
# `snapshots list / verify`, `drill`: bad arguments, the snapshot root missing, or the backup,
# snapshot or Kafka could not be reached
EXIT_UNAVAILABLE = EXIT_INVALID
EXIT_DRILL_PASSED = EXIT_OK  # also a drill skipped because every topic is idle ("skipped")
EXIT_DRILL_FAILED = EXIT_FAILED  # a topic's sample did not come back exactly


class RestoreError(Exception):
    """A restore that cannot go on; the message names the cause and the fix."""

    exit_code = EXIT_FAILED

    def render(self) -> str:
        """The line restore.py prints on stderr."""
        return f"restore.py: error: {self}"


def raise_interrupt(_signum: int, _frame: object) -> None:
    """restore.py's SIGTERM handler: a pod stopping ends the send like Ctrl-C (the true count
    and the summary). The private backup mount keeps it in place (restore/backup_mount.py)."""
    raise KeyboardInterrupt
