"""The runbook's set-aside files are outside the encrypted backup (the original's rsnapshot
include/exclude copies only `*.sink` / `*.gz` directly in sinkPath): shown with real rsnapshot,
and the runbook says so, with where the files are and how long the snapshots still hold them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kafka_connect_backup.config import load_config
from kafka_connect_backup.restore import validate
from kafka_connect_backup.restore.cli import build_parser
from kafka_connect_backup.restore.runbook.steps import set_aside_note
from kafka_connect_backup.supervisor.backup.snapshot import backup_snapshot
from kafka_connect_backup.tools.volume import mounted_volume
from local_config import write_config
from storage_helpers import StorageEnv, storage_env, tree

pytestmark = pytest.mark.integration


@pytest.fixture
def env(tmp_path: Path) -> Iterator[StorageEnv]:
    with storage_env(tmp_path) as created:
        yield created


def test_set_aside_files_are_not_backed_up_and_the_note_says_so(env: StorageEnv) -> None:
    aside = env.sink / "snapshot-orders-20261126T150000Z"
    aside.mkdir()
    (aside / "orders-sink-2026-11.sink").write_text('{"utcTime": "2026-11-01T00:00:00Z"}\n')
    (env.sink / "orders-sink-2026-11.sink").write_text('{"utcTime": "2026-11-26T00:00:00Z"}\n')
    config_path = write_config(
        env.root / "config.yaml", {**env.config_data(retention=4), "restartTimeout": "23h"}
    )
    config = load_config(config_path)
    backup_snapshot(config)
    with mounted_volume(config.backup, allow_init=False) as volume:
        backed_up = tree(volume.snapshot_root / "alpha.0")
    assert sorted(backed_up) == [".kcb-snapshot.json", "localhost/orders-sink-2026-11.sink"]

    args = build_parser().parse_args(
        ["orders", "--from", "2026-11-20", "--runbook", "--config", str(config_path)]
    )
    note = set_aside_note(validate.settings_from_args(args, need_sources=False), aside)
    assert note == (
        f"    NOTE: the sink files of orders as they were before this restore are in {aside}/ "
        f"on the data volume, OUTSIDE the encrypted backup (it copies only *.sink, *.gz and "
        "*.topic.json "
        f"directly in {env.sink}, never a subdirectory): the existing snapshots still hold "
        "them, but they drop out of the backup once 4 more backup cycles have run "
        "(backup.retention 4, one cycle every 23h). They hold every record the sink had "
        "written, including those outside the replayed window (from 2026-11-20T00:00:00+00:00 "
        "(inclusive) to the last record) that the recreated topic does not get back: copy that "
        "directory somewhere safe if you need them, delete it when you don't."
    )
