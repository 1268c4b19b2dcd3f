"""Errors that reach the operator: each names its cause (a short metric label) and the fix."""

from __future__ import annotations


class KcbError(Exception):
    """An operational failure with a clear cause and fix.

    `cause` is a stable snake_case label used in logs and in the failures-by-cause metric
    (e.g. `wrong_password`, `target_not_mounted`, `disk_full`, `rsnapshot_locked`,
    `connect_unreachable`); `fix` tells the operator what to do.
    """

    cause: str = "error"

    def __init__(self, message: str, *, fix: str = "", cause: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix
        if cause is not None:
            self.cause = cause

    def __str__(self) -> str:
        return f"{self.message} (fix: {self.fix})" if self.fix else self.message
