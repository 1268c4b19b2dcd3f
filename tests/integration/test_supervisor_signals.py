"""`kcb supervise` as a real process: SIGTERM in the middle of a cycle finishes or skips the
current step, resumes the connectors, unmounts the backup and exits 0."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from kafka_connect_backup.config import load_config
from kafka_connect_backup.connect.connectors import connector_names
from kafka_connect_backup.tools import fuse
from kafka_helpers import produce_json, wait_for_lines
from kafka_stack import free_port, wait_running
from local_config import write_config
from storage_helpers import PASSWORD, storage_env
from supervisor_helpers import config_data, delete_connectors, sink_name

pytestmark = pytest.mark.integration

KCB = str(Path(sys.executable).parent / "kcb")


class LogReader(threading.Thread):
    """Collects the supervisor's JSON events from its stderr; signals when one appears."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        super().__init__(daemon=True)
        self.process = process
        self.raw: list[str] = []
        self.events: list[dict[str, Any]] = []
        self._seen = threading.Condition()

    def run(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            with self._seen:
                self.raw.append(line)
                with contextlib.suppress(ValueError):
                    self.events.append(json.loads(line))
                self._seen.notify_all()

    def wait_for(self, event: str, timeout: float = 120) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            return next((e for e in self.events if e.get("event") == event), None)

        with self._seen:
            assert self._seen.wait_for(lambda: found() is not None, timeout), (
                f"no {event} event in time; log:\n{''.join(self.raw)[-3000:]}"
            )
            event_found = found()
            assert event_found is not None
            return event_found

    def names(self) -> list[str]:
        return [str(e.get("event")) for e in self.events]


@pytest.mark.parametrize("signal_at", ["connectors.stopped", "volume.mounted"])
def test_sigterm_mid_cycle_resumes_connectors_unmounts_and_exits_0(
    kafka_broker, connect_worker, unique_topic, tmp_path: Path, signal_at: str
) -> None:
    sink = sink_name()
    with storage_env(tmp_path) as env:
        config_path = write_config(
            tmp_path / "config.yaml",
            config_data(
                topics=[unique_topic],
                sink=sink,
                sink_path=env.sink,
                connect_url=connect_worker.url,
                restartTimeout="3s",
                metrics_port=free_port(),
                backup=env.backup(),
            ),
        )
        config = load_config(config_path)
        names = connector_names(config)
        process = subprocess.Popen(
            [KCB, "supervise", "--config", str(config_path)],
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
        )
        reader = LogReader(process)
        reader.start()
        try:
            # The file the supervisor declared, on its own clock (not the test's).
            path = Path(reader.wait_for("connector.created")["file"])
            assert path.parent == env.sink and path.name.startswith(f"{unique_topic}-{sink}-")
            lines = produce_json(
                kafka_broker.bootstrap,
                unique_topic,
                [
                    {"id": i, "utcTime": "2026-11-04T10:00:00Z", "pad": "x" * 200}
                    for i in range(3000)
                ],
            )
            assert len(wait_for_lines([path], 3000)) == 3000
            reader.wait_for(signal_at)
            process.send_signal(signal.SIGTERM)
            code = process.wait(120)
            reader.join(10)
            assert code == 0, "".join(reader.raw)[-3000:]
            events = reader.names()
            assert "supervisor.stopped" in events and "cycle.done" in events
            assert "cycle.aborted" in events or "cycle.snapshot_taken" in events
            if signal_at == "volume.mounted":
                # The running step (mount .. rsnapshot .. verify .. unmount) is finished, not cut.
                assert "cycle.snapshot_taken" in events and "volume.unmounted" in events
            assert not fuse.is_mount_point(env.mount_point)
            wait_running(connect_worker.url, names)
            assert path.read_text().splitlines() == lines
            assert PASSWORD not in "".join(reader.raw)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            delete_connectors(connect_worker.url, f"-{sink}")
