"""Shared set-up of the storage integration tests: a sink directory, a backup target that is a
real tmpfs mount, a mount point, a password file, and cleanup of every mount even on failure."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kafka_connect_backup.config import Config, parse_config
from kafka_connect_backup.layout.names import COPY_TEMP_PREFIX as TEMP_PREFIX
from kafka_connect_backup.layout.names import HOST_DIR, SYNC_DIR
from kafka_connect_backup.tools import fuse
from local_config import local_backup, local_config

PASSWORD = "correct horse battery staple 7f3a"
RESTORE_SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "restore.py"


@dataclass
class StorageEnv:
    root: Path
    sink: Path
    target: Path
    mount_point: Path
    work: Path
    password_file: Path

    def backup(self, **overrides: Any) -> dict[str, Any]:
        """The `backup` section over this env: enabled, encfs, allowInit, its target a real mount
        (requireTargetMount); overrides (config key names) win."""
        return local_backup(
            password_file=self.password_file,
            target_dir=self.target,
            mount_point=self.mount_point,
            work_dir=self.work,
            require_target_mount=True,
            **overrides,
        )

    def config_data(self, **backup: Any) -> dict[str, Any]:
        """Topic `orders`, sink name `sink`, backed up into this env (`backup` overrides)."""
        return local_config(
            topics=["orders"], sink_name="sink", sink_path=self.sink, backup=self.backup(**backup)
        )

    def config(self, **backup: Any) -> Config:
        return parse_config(self.config_data(**backup))


def mount_tmpfs(path: Path, size: str = "256m") -> None:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)


def mounts_under(root: Path) -> list[Path]:
    base = Path(os.path.realpath(root))
    found = [m.mount_point for m in fuse.mounts() if m.mount_point.is_relative_to(base)]
    # Deepest first, so a FUSE mount goes before the tmpfs holding its ciphertext.
    return sorted(set(found), key=lambda p: len(p.parts), reverse=True)


def fuse_mounts(env: StorageEnv) -> list[Path]:
    """The mounts below the env but its target's tmpfs: what a step left mounted."""
    return [p for p in mounts_under(env.root) if p != Path(env.target).resolve()]


def unmount_all(root: Path) -> None:
    for _ in range(3):
        for path in mounts_under(root):
            subprocess.run(["fusermount", "-u", "-z", str(path)], capture_output=True, check=False)
            subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)
        if not mounts_under(root):
            return
    assert not mounts_under(root), f"mounts left under {root}: {mounts_under(root)}"


@contextmanager
def storage_env(root: Path, *, target_size: str = "256m") -> Iterator[StorageEnv]:
    env = StorageEnv(
        root=root,
        sink=root / "sink",
        target=root / "target",
        mount_point=root / "plain",
        work=root / "work",
        password_file=root / "secret" / "password",
    )
    env.sink.mkdir()
    env.password_file.parent.mkdir()
    env.password_file.write_text(PASSWORD + "\n")
    try:
        mount_tmpfs(env.target, target_size)
        yield env
    finally:
        unmount_all(root)


def tree(path: Path) -> dict[str, bytes]:
    """Relative path -> content of every regular file below path."""
    return {
        str(p.relative_to(path)): p.read_bytes()
        for p in sorted(path.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


def run_restore(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """scripts/restore.py with these arguments, no terminal on stdin, output captured."""
    return subprocess.run(
        [sys.executable, str(RESTORE_SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def wait_for_copy(mount_point: Path, alive: Callable[[], bool], timeout: float = 60) -> bool:
    """Wait until the backup step is copying a file into `.sync` (its temporary file exists
    in the mounted view), while alive() holds; whether it was seen."""
    host = mount_point / SYNC_DIR / HOST_DIR
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive():
        with contextlib.suppress(OSError):
            if any(p.name.startswith(TEMP_PREFIX) for p in host.iterdir()):
                return True
        time.sleep(0.01)
    return False
