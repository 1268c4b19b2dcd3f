"""The original's `Continue (yes/no)?`: only `yes` proceeds; without a terminal (and without
--yes) refuse at once instead of waiting for an answer nobody can type."""

from __future__ import annotations

from typing import TextIO

from kafka_connect_backup.restore.errors import EXIT_NOT_CONFIRMED, RestoreError

QUESTION = "Continue (yes/no)? "


class NotConfirmed(RestoreError):
    """The operator did not say yes (or could not be asked)."""

    exit_code = EXIT_NOT_CONFIRMED

    def render(self) -> str:
        return f"restore.py: {self}; nothing was sent"


def confirm(assume_yes: bool, stdin: TextIO, stdout: TextIO) -> None:
    if assume_yes:
        return
    if not stdin.isatty():
        raise NotConfirmed(
            "refusing to continue: no terminal to ask 'Continue (yes/no)?' on; "
            "re-run with --yes to confirm non-interactively"
        )
    stdout.write(QUESTION)
    stdout.flush()
    answer = stdin.readline()
    if answer.strip() != "yes":
        shown = answer.strip() or "nothing"
        raise NotConfirmed(f"not confirmed (answered {shown!r}, only 'yes' proceeds)")
