"""A password file that is not UTF-8 (a binary key, a Latin-1 editor): one line naming the
file and the fix wherever it is read, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kafka_connect_backup import cli
from kafka_connect_backup.config import parse_config
from kafka_connect_backup.core.errors import KcbError
from kafka_connect_backup.supervisor.backup.snapshot import backup_snapshot
from kafka_connect_backup.supervisor.daemon import register_password
from kafka_connect_backup.tools import volume

pytestmark = pytest.mark.unit


def _config_file(tmp_path: Path) -> tuple[Path, Path]:
    password = tmp_path / "password"
    password.write_bytes(b"caf\xe9-s3cret\n")  # Latin-1
    (tmp_path / "cipher").mkdir()
    document = {
        "topics": ["orders"],
        "sinkPath": str(tmp_path / "sink"),
        "metrics": {"port": 0},
        "backup": {
            "enabled": True,
            "passwordFile": str(password),
            "targetDir": str(tmp_path / "cipher"),
            "mountPoint": str(tmp_path / "plain"),
            "workDir": str(tmp_path / "kcb"),
            "requireTargetMount": False,
        },
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(document))
    return path, password


def _expected(password: Path) -> str:
    return (
        f"cannot read the password file {password}: not UTF-8 (fix: mount the encryption "
        f"Secret at {password} (backup.passwordFile) readable by this user, holding the volume "
        "password on one line)"
    )


def test_read_password_names_the_file_and_the_fix_in_one_line(tmp_path: Path) -> None:
    _, password = _config_file(tmp_path)
    with pytest.raises(KcbError) as caught:
        volume.read_password(password)
    assert str(caught.value) == _expected(password)
    assert caught.value.cause == "password_file_unreadable"


def test_supervise_starts_and_its_backup_step_reports_the_file(tmp_path: Path) -> None:
    """kcb supervise: the start-up only masks the password (and must not fail on it); the
    cycle's snapshot step then fails with the same one-line error, logged with its cause."""
    path, password = _config_file(tmp_path)
    config = parse_config(yaml.safe_load(path.read_text()))
    register_password(config)  # no exception
    with pytest.raises(KcbError) as caught:
        backup_snapshot(config)
    assert str(caught.value) == _expected(password)


def test_kcb_commands_print_one_line_and_no_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, password = _config_file(tmp_path)
    # check-config validates the file; it does not read the password (the supervisor does).
    assert cli.main(["check-config", "--config", str(path)]) == 0
    assert "valid (1 topic(s)" in capsys.readouterr().out
    # snapshots list mounts the backup itself, and so reads the password first.
    assert cli.main(["snapshots", "list", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("kcb: cannot read snapshots: mounting the encrypted backup")
    assert _expected(password) in err
