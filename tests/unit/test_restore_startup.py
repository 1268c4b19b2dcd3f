"""restore.py's start-up: without a config file it imports neither the config models
(pydantic, yaml) nor structured logging, and falls back on the same defaults the config
models have."""

import subprocess
import sys

import pytest

from kafka_connect_backup.config import parse_config
from kafka_connect_backup.restore.validate import Defaults

pytestmark = pytest.mark.unit


def test_defaults_without_a_config_file_are_the_config_models_defaults():
    assert Defaults.of(None) == Defaults.of(parse_config({"topics": ["a"]}))


def test_a_config_file_supplies_the_defaults():
    config = parse_config(
        {
            "topics": ["a"],
            "sinkName": "other",
            "sinkPath": "/srv/sink",
            "kafka": {"bootstrapServers": "k:9093"},
            "connect": {"url": "http://c:8083"},
            "backup": {"mountPoint": "/m", "snapshotSubdir": "snaps"},
        }
    )
    defaults = Defaults.of(config)
    assert (defaults.sink_name, str(defaults.sink_path)) == ("other", "/srv/sink")
    assert (defaults.bootstrap_servers, defaults.connect_url) == ("k:9093", "http://c:8083")
    assert str(defaults.snapshot_root) == "/m/snaps"


def test_the_restore_cli_imports_no_config_models_or_logging():
    heavy = ["pydantic", "yaml", "structlog", "kafka_connect_backup.config", "tqdm"]
    code = (
        "import sys, kafka_connect_backup.restore.cli\n"
        f"print([m for m in {heavy!r} if m in sys.modules])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
