"""`make demo` must not rot: run it in fast mode and check its verification and clean-up."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from kafka_connect_backup.tools.fuse import is_mount_point

pytestmark = [pytest.mark.integration, pytest.mark.demo]

ROOT = Path(__file__).resolve().parents[2]


def hint_command(output: str) -> list[str]:
    """The `snapshots` command of the demo's closing hint, its kcb an absolute path to a file."""
    hint = next(line for line in output.splitlines() if "  snapshots    " in line)
    command = hint.split("  snapshots    ", 1)[1].split("  (", 1)[0].split()
    assert Path(command[0]).is_absolute() and Path(command[0]).is_file(), hint
    return command


def test_demo_fast_mode_verifies_the_restore_and_cleans_up(tmp_path: Path) -> None:
    work = tmp_path / "demo"
    run = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py"), "--fast", "--work-dir", str(work)],
        capture_output=True,
        text=True,
        timeout=420,
        check=False,
    )
    output = run.stdout
    assert run.returncode == 0, output + run.stderr
    assert output.count("connectors stopped:") == 3
    assert output.count("snapshot taken: alpha.0 holds") == 3
    assert "files compressed: 1 (orders-demo-sink-" in output
    verified = [line for line in output.splitlines() if line.startswith("VERIFIED: ")]
    assert len(verified) == 1, output
    assert "orders-restored holds exactly the" in verified[0]
    assert verified[0].endswith("restored from encrypted snapshot alpha.0")
    assert "stopped: broker and Connect; mounted: False" in output
    # The closing hint's command runs as printed (a bare `kcb` is not on an operator's PATH).
    listed = subprocess.run(
        hint_command(output), capture_output=True, text=True, timeout=120, check=False
    )
    assert listed.returncode == 0, listed.stderr
    assert "alpha.0" in listed.stdout
    assert not is_mount_point(work / "backup-plain")
    # No JVM of the demo's stack is left behind.
    leftover = subprocess.run(
        ["pgrep", "-f", str(work / "stack")], capture_output=True, check=False
    )
    assert leftover.stdout == b""


def test_demo_interrupted_mid_cycle_cleans_up_the_same_way(tmp_path: Path) -> None:
    work = tmp_path / "demo"
    demo = subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / "demo.py"), "--fast", "--work-dir", str(work)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, like a job in a terminal
    )
    assert demo.stdout is not None
    seen: list[str] = []
    for line in demo.stdout:
        seen.append(line)
        if "connectors stopped:" in line:  # a cycle is under way: Ctrl-C now
            os.killpg(demo.pid, signal.SIGINT)  # the terminal signals the whole group
            break
    rest, _ = demo.communicate(timeout=180)
    output = "".join(seen) + rest
    assert demo.returncode == 130, output
    assert "interrupted: cleaning up" in output
    assert "stopped: supervisor (exit 0)" in output
    assert "stopped: broker and Connect; mounted: False" in output
    assert not is_mount_point(work / "backup-plain")
    leftover = subprocess.run(["pgrep", "-f", str(work)], capture_output=True, check=False)
    assert leftover.stdout == b""
