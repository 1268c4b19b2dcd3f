"""Run a command as a container of the pod would: uid 0 (or another uid) with exactly these
capabilities and supplementary groups, no privilege escalation (util-linux setpriv). The tests
run as root, so this is how they prove what a reduced set of capabilities can and cannot do."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

FS_GROUP = 1000  # the chart's podSecurityContext.fsGroup, the Connect user's gid


def setpriv(
    caps: Sequence[str], *, uid: int = 0, gid: int = 0, groups: Sequence[int] = ()
) -> list[str]:
    assert os.geteuid() == 0, "these tests drop capabilities from root: run the tests as root"
    assert shutil.which("setpriv"), "setpriv is missing: install util-linux (make setup)"
    wanted = ",".join(["-all", *(f"+{c.lower()}" for c in caps)])
    who = [f"--reuid={uid}"] if uid else []
    group_args = [f"--groups={','.join(map(str, groups))}"] if groups else ["--clear-groups"]
    return [
        "setpriv",
        *who,
        f"--regid={gid}",
        *group_args,
        f"--inh-caps={wanted}",
        f"--bounding-set={wanted}",
        "--no-new-privs",
    ]


def run_with_capabilities(
    command: Sequence[str],
    caps: Sequence[str],
    *,
    uid: int = 0,
    gid: int = 0,
    groups: Sequence[int] = (),
    cwd: Path | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """cwd: give one the uid can enter when it is not root (a clone may lie below a 0700
    directory, and find(1) returns to its starting directory)."""
    return subprocess.run(
        [*setpriv(caps, uid=uid, gid=gid, groups=groups), *command],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )


def python_with_capabilities(
    code: str, caps: Sequence[str], *, args: Sequence[str] = (), groups: Sequence[int] = ()
) -> subprocess.CompletedProcess[str]:
    """This interpreter (the package importable) running `code` (sys.argv[1:] = args) as root
    with only caps."""
    return run_with_capabilities([sys.executable, "-c", code, *args], caps, groups=groups)
