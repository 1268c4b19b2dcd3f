"""What an rsnapshot stopped at each point of its run leaves, and what is discarded: the
states are built the way rsnapshot builds them (rm -rf, mv, cp -al, rsync's rename)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from kafka_connect_backup.supervisor.backup.interrupted import discard_incomplete, fingerprints

pytestmark = pytest.mark.unit


def _snapshot(root: Path, name: str, files: dict[str, bytes]) -> None:
    host = root / name / "localhost"
    host.mkdir(parents=True)
    for file, data in files.items():
        (host / file).write_bytes(data)


def _contents(root: Path) -> dict[str, dict[str, bytes]]:
    return {
        d.name: {f.name: f.read_bytes() for f in sorted((d / "localhost").iterdir())}
        for d in sorted(root.iterdir())
    }


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "snapshots"
    _snapshot(root, "alpha.0", {"a.sink": b"a2\n", "old.gz": b"gz"})
    _snapshot(root, "alpha.1", {"a.sink": b"a1\n", "old.gz": b"gz"})
    _snapshot(root, "alpha.2", {"a.sink": b"a0\n"})
    return root


def _rotate(root: Path) -> None:
    shutil.rmtree(root / "alpha.2")
    (root / "alpha.1").rename(root / "alpha.2")


def test_stopped_during_rsync_restores_the_previous_alpha0(root: Path) -> None:
    before, original = fingerprints(root), _contents(root)
    _rotate(root)
    subprocess.run(["cp", "-al", str(root / "alpha.0"), str(root / "alpha.1")], check=True)
    fresh = root / "alpha.0/localhost/.a.sink.XyZ12"  # rsync: temp file, then rename
    fresh.write_bytes(b"a2\na3\n")
    fresh.rename(root / "alpha.0/localhost/a.sink")
    (root / "alpha.0/localhost/new.sink").write_bytes(b"n\n")

    done = discard_incomplete(root, before, {"alpha": 3})
    assert done.removed == {
        "alpha.0": "incomplete: rsync was writing it; the previous snapshot is kept intact"
    }
    assert done.renamed == {"alpha.1": "alpha.0", "alpha.2": "alpha.1"}
    assert done.kept == ["alpha.0", "alpha.1"] and done.quarantined == {}
    assert _contents(root) == {"alpha.0": original["alpha.0"], "alpha.1": original["alpha.1"]}


def test_stopped_during_cp_al_drops_the_partial_copy_only(root: Path) -> None:
    before, original = fingerprints(root), _contents(root)
    _rotate(root)
    _snapshot(root, "alpha.1", {})
    os.link(root / "alpha.0/localhost/old.gz", root / "alpha.1/localhost/old.gz")

    done = discard_incomplete(root, before, {"alpha": 3})
    assert done.removed == {
        "alpha.1": "incomplete hard-link copy of a snapshot that is kept intact"
    }
    assert done.renamed == {"alpha.2": "alpha.1"}
    assert _contents(root) == {"alpha.0": original["alpha.0"], "alpha.1": original["alpha.1"]}


def test_stopped_after_cp_al_before_rsync_changed_anything_drops_the_copy(root: Path) -> None:
    before, original = fingerprints(root), _contents(root)
    _rotate(root)
    subprocess.run(["cp", "-al", str(root / "alpha.0"), str(root / "alpha.1")], check=True)

    done = discard_incomplete(root, before, {"alpha": 3})
    assert done.removed == {"alpha.1": "hard-link copy (cp -al) of a snapshot kept intact"}
    assert done.renamed == {"alpha.2": "alpha.1"}
    assert _contents(root) == {"alpha.0": original["alpha.0"], "alpha.1": original["alpha.1"]}


def test_identical_snapshots_from_before_the_run_are_both_kept(tmp_path: Path) -> None:
    root = tmp_path / "snapshots"
    _snapshot(root, "alpha.0", {"a.sink": b"same\n"})
    shutil.copytree(root / "alpha.0", root / "alpha.1", copy_function=os.link)
    before = fingerprints(root)
    done = discard_incomplete(root, before, {"alpha": 3})
    assert done.removed == {} and done.kept == ["alpha.0", "alpha.1"]


def test_stopped_while_deleting_the_oldest_finishes_the_deletion(root: Path) -> None:
    before, original = fingerprints(root), _contents(root)
    (root / "alpha.2/localhost/a.sink").unlink()  # rm -rf half way

    done = discard_incomplete(root, before, {"alpha": 3})
    assert done.removed == {"alpha.2": "partly deleted by rsnapshot (beyond retention 3)"}
    assert done.renamed == {}
    assert _contents(root) == {"alpha.0": original["alpha.0"], "alpha.1": original["alpha.1"]}


def test_what_cannot_be_explained_is_set_aside_never_deleted(root: Path) -> None:
    before = fingerprints(root)
    (root / "alpha.0/localhost/a.sink").write_bytes(b"changed in place\n")  # no copy anywhere

    done = discard_incomplete(root, before, {"alpha": 3})
    assert done.removed == {}
    (aside,) = done.quarantined.values()
    assert aside.startswith("_incomplete.alpha.0.")
    assert (root / aside / "localhost/a.sink").read_bytes() == b"changed in place\n"
    assert done.renamed == {"alpha.1": "alpha.0", "alpha.2": "alpha.1"}


def test_nothing_changed_keeps_everything(root: Path) -> None:
    before, original = fingerprints(root), _contents(root)
    done = discard_incomplete(root, before, {"alpha": 3})
    assert done.removed == {} and done.quarantined == {} and done.renamed == {}
    assert _contents(root) == original
