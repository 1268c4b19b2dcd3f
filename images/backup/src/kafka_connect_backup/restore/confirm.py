"""The original's `Continue (yes/no)?`: `yes` or `y` proceeds. The answer comes from a
terminal or, as the original runbook took it, from a pipe (`echo yes | restore.py ...`); `--yes`
is the scripted way. A piped stdin that says nothing (empty, or silent for PIPED_ANSWER_SECONDS)
is refused at once instead of waiting for an answer nobody can type. A destructive run
(records deleted, other groups' positions lost) is asked even with --yes, unless --force."""

from __future__ import annotations

import io
import select
from typing import TextIO

from kafka_connect_backup.core.exit_codes import EXIT_NOT_CONFIRMED, RestoreError

QUESTION = "Continue (yes/no)? "


class NotConfirmed(RestoreError):
    """The operator did not say yes (or could not be asked)."""

    exit_code = EXIT_NOT_CONFIRMED

    def render(self) -> str:
        return f"restore.py: {self}; nothing was sent"


YES = ("yes", "y")
# How long a stdin that is no terminal may take to give its line: a pipe from `echo yes` has it
# at once; a stdin left open by a scheduler, with nothing coming, must not hang the restore.
PIPED_ANSWER_SECONDS = 5.0


def _piped_line(stdin: TextIO) -> str | None:
    """The first line of a piped stdin ('' at its end), or None when nothing comes in time."""
    try:
        fd = stdin.fileno()
    except (io.UnsupportedOperation, AttributeError, ValueError):
        return stdin.readline()  # an in-memory stream: it has what it has
    ready, _, _ = select.select([fd], [], [], PIPED_ANSWER_SECONDS)
    return stdin.readline() if ready else None


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
    terminal = stdin.isatty()
    if destructive is not None:
        stdout.write(f"WARNING: {destructive}.\n")
    stdout.write(QUESTION)
    stdout.flush()
    line = stdin.readline() if terminal else _piped_line(stdin)
    if line is None or (not terminal and not line):
        stdout.write("(no answer on stdin)\n")
        if destructive is not None and assume_yes:
            raise NotConfirmed(
                f"refusing to continue: {destructive}; --yes alone does not confirm that: "
                "re-run with --yes --force to confirm it non-interactively"
            )
        raise NotConfirmed(
            "refusing to continue: no terminal to ask 'Continue (yes/no)?' on and no answer "
            "on stdin; pipe 'yes' into it, or re-run with --yes to confirm non-interactively"
        )
    answer = line.strip()
    if not terminal:
        stdout.write(f"{answer}\n")  # the piped answer, as a terminal would have echoed it
    if answer.lower() not in YES:
        raise NotConfirmed(
            f"not confirmed (answered {answer or 'nothing'!r}; 'yes' or 'y' proceeds)"
        )
