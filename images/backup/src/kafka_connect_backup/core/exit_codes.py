"""Restore's exit codes and the root of its errors: every error restore.py can end with is a
RestoreError that carries its exit code and how it is shown, so the CLI and the runbook map
them in one place instead of by hand."""

from __future__ import annotations

# Exit codes of restore.py (documented in its --help).
EXIT_OK = 0
EXIT_FAILED = 1  # records failed delivery, or a runbook step failed
EXIT_INVALID = 2  # bad arguments or sources: nothing was sent
EXIT_UNREACHABLE = 3  # Kafka / Connect unreachable, or the topic is unknown: nothing was sent
EXIT_NOT_CONFIRMED = 4  # the operator did not answer yes (or could not be asked)
EXIT_INTERRUPTED = 130  # Ctrl-C or SIGTERM (128 + SIGINT, as a shell reports it)


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
