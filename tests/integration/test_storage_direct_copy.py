"""The backup step's copy writes past the page cache (O_DIRECT) into the real FUSE engines:
every length arrives byte for byte, including tails no block device would take unaligned."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from kafka_connect_backup.layout.names import HOST_DIR, SYNC_DIR
from kafka_connect_backup.supervisor.backup.sync_copy import CHUNK, fill_sync_dir
from kafka_connect_backup.tools.volume import mounted_volume
from storage_helpers import StorageEnv, storage_env

pytestmark = pytest.mark.integration

SIZES = {
    "empty-2026-01.sink": 0,
    "one-byte-2026-01.sink": 1,
    "short-block-2026-01.sink": 4095,
    "past-a-block-2026-01.sink": 4097,
    "chunk-and-three-2026-01.sink": CHUNK + 3,
    "chunks-2026-01.sink": 3 * CHUNK,
}


@pytest.fixture
def env(tmp_path: Path) -> Iterator[StorageEnv]:
    with storage_env(tmp_path) as env:
        yield env


@pytest.mark.parametrize("engine", ["encfs", "gocryptfs"])
def test_direct_writes_arrive_byte_for_byte(env: StorageEnv, engine: str) -> None:
    sources = {name: os.urandom(size) for name, size in SIZES.items()}
    for name, data in sources.items():
        (env.sink / name).write_bytes(data)
    with mounted_volume(env.config(engine=engine).backup) as volume:
        volume.snapshot_root.mkdir(parents=True, exist_ok=True)
        result = fill_sync_dir(env.sink, volume.snapshot_root, direct=True)
        host = volume.snapshot_root / SYNC_DIR / HOST_DIR
        copies = {p.name: p.read_bytes() for p in host.iterdir()}
        mtimes = {p.name: int(p.stat().st_mtime) for p in host.iterdir()}
    assert result.files == len(SIZES) and result.bytes == sum(SIZES.values())
    assert copies == sources
    assert mtimes == {name: int((env.sink / name).stat().st_mtime) for name in SIZES}
