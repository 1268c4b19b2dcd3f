"""The original's `Continue (yes/no)?`: `yes` or `y` proceeds; without a terminal (and without
--yes) refuse at once instead of waiting for an answer nobody can type. A destructive run
(records deleted, other groups' positions lost) is asked even with --yes, unless --force."""

from __future__ import annotations

from typing import TextIO

from kafka_connect_backup.restore.errors import EXIT_NOT_CONFIRMED, RestoreError

QUESTION = "Continue (yes/no)? "


class NotConfirmed(RestoreError):
    """The operator did not say yes (or could not be asked)."""

    exit_code = EXIT_NOT_CONFIRMED

    def render(self) -> str:
        return f"restore.py: {self}; nothing was sent"


YES = ("yes", "y")


def confirm(
    assume_yes: bool,
    stdin: TextIO,
    stdout: TextIO,
    *,
    destructive: str | None = None,
    force: bool = False,
) -> None:
    """destructive: what the run destroys, when it does; then --yes alone does not answer."""
    if assume_yes and (destructive is None or force):
        return
    if not stdin.isatty():
        if destructive is not None and assume_yes:
            raise NotConfirmed(
                f"refusing to continue: {destructive}; --yes alone does not confirm that: "
                "re-run with --yes --force to confirm it non-interactively"
            )
        raise NotConfirmed(
            "refusing to continue: no terminal to ask 'Continue (yes/no)?' on; "
            "re-run with --yes to confirm non-interactively"
        )
    if destructive is not None:
        stdout.write(f"WARNING: {destructive}.\n")
    stdout.write(QUESTION)
    stdout.flush()
    answer = stdin.readline().strip()
    if answer.lower() not in YES:
        raise NotConfirmed(
            f"not confirmed (answered {answer or 'nothing'!r}; 'yes' or 'y' proceeds)"
        )
