from pathlib import Path

import pytest
import yaml

from kafka_connect_backup.config import ConfigError, load_config, parse_config
from kafka_connect_backup.core.durations import parse_duration

pytestmark = pytest.mark.unit

EXAMPLE = Path(__file__).parents[2] / "images/backup/config.example.yaml"


def test_example_config_is_valid_and_matches_defaults() -> None:
    config = load_config(EXAMPLE)
    assert config.topics == ["connect1"]
    defaults = parse_config({"topics": ["connect1"]})
    assert config == defaults


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("90m", 5400), ("23h", 82800), ("1d", 86400), ("45", 45)]
)
def test_gnu_timeout_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "2x", "h", "-1s", "0s", "1 d"])
def test_bad_durations_name_the_accepted_form(text: str) -> None:
    with pytest.raises(ValueError, match=r"30s, 90m, 23h, 1d|greater than zero"):
        parse_duration(text)


def test_every_bad_key_is_named_with_its_path(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        yaml.safe_dump(
            {"topics": [], "restartTimeout": "2x", "backup": {"retension": 3, "engine": "zfs"}}
        )
    )
    with pytest.raises(ConfigError) as error:
        load_config(path)
    message = str(error.value)
    assert str(path) in message
    assert "topics: List should have at least 1 item" in message
    assert "restartTimeout: '2x' is not a duration" in message
    assert "backup.retension: unknown key" in message
    assert "backup.engine: Input should be 'auto', 'encfs' or 'gocryptfs'" in message


def test_unreadable_and_non_yaml_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("topics: [a\n")
    with pytest.raises(ConfigError, match="is not valid YAML"):
        load_config(bad)


def test_a_config_file_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_bytes(b"topics: [orders]\nsinkName: caf\xe9\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value) == (
        f"config file {path} is not UTF-8 text (byte 30): write it as UTF-8 YAML"
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"topics": ["."]}, "topics.0: '.' is not a topic name (Kafka refuses '.' and '..')"),
        ({"topics": [".."]}, "topics.0: '..' is not a topic name (Kafka refuses '.' and '..')"),
        ({"topics": ["a"], "restartTimeout": "0.0001s"}, "restartTimeout: '0.0001s' is shorter"),
        (
            {"topics": ["a"], "connect": {"holdWarnAfter": "0.5s"}},
            "connect.holdWarnAfter: '0.5s' is shorter than 1s",
        ),
        (
            {"topics": ["a"], "backup": {"snapshotSubdir": "../x"}},
            "backup.snapshotSubdir: '../x' must be a relative path inside the volume",
        ),
        (
            {"topics": ["a"], "backup": {"snapshotSubdir": "/abs"}},
            "backup.snapshotSubdir: '/abs' must be a relative path inside the volume",
        ),
        (
            {"topics": ["a"], "reconcileIntervalSeconds": float("inf")},
            (
                "reconcileIntervalSeconds: inf is more than 300 seconds: connectors a Connect "
                "restart lost are recreated only by the reconcile, while the status says HEALTHY; "
                "use at most 300"
            ),
        ),
        (
            {"topics": ["a"], "reconcileIntervalSeconds": 1e9},
            "reconcileIntervalSeconds: 1e+09 is more than 300 seconds",
        ),
        (
            {"topics": ["a"], "restartTimeout": "99999999999999d"},
            "restartTimeout: '99999999999999d' is longer than 366d: use at most 366d",
        ),
        (
            {"topics": ["a"], "kafka": {"bootstrapServers": "kafka-0.kafka,kafka-1.kafka:9092"}},
            (
                "kafka.bootstrapServers: 'kafka-0.kafka' has no port: write host:port, e.g. "
                "kafka-0.kafka:9092"
            ),
        ),
        (
            {"topics": ["a"], "kafka": {"bootstrapServers": "[::1]"}},
            "kafka.bootstrapServers: '[::1]' has no port: write host:port, e.g. [::1]:9092",
        ),
        (
            {"topics": ["a"], "kafka": {"bootstrapServers": "http://kafka:9092"}},
            (
                "kafka.bootstrapServers: 'http://kafka:9092' is a URL: give host:port, no scheme "
                "(e.g. kafka:9092)"
            ),
        ),
        (
            {"topics": ["a"], "sinkPath": "/"},
            "sinkPath: '/' must be an absolute directory of its own (e.g. /data/filesink)",
        ),
        (
            {"topics": ["a"], "sinkPath": "data/filesink"},
            "sinkPath: 'data/filesink' must be an absolute directory of its own",
        ),
        (
            {"topics": ["a"], "backup": {"mountPoint": "/mnt/x", "targetDir": "/mnt/x/"}},
            (
                "backup: mountPoint '/mnt/x' and targetDir '/mnt/x' must be apart: the decrypted "
                "view cannot be mounted on (or inside, or around) its own encrypted files; choose "
                "another mountPoint (default /mnt/backup)"
            ),
        ),
        (
            {"topics": ["a"], "backup": {"mountPoint": "/mnt/x/plain", "targetDir": "/mnt/x"}},
            "backup: mountPoint '/mnt/x/plain' and targetDir '/mnt/x' must be apart",
        ),
        (
            # The data volume: .{file}.kcb-tmp, file = 197 + 1 + 22 + 1 + 7 + 5 + 14 = 247.
            {"topics": ["a", "t" * 197]},
            (
                f"topics.1: '{'t' * 197}' (197 characters) is too long for its files' names on the "
                "data volume (sinkPath): .{file}.kcb-tmp of a compressed value file, {file} = "
                "{topic}-{sinkName}-{period}.sink-{epoch}.gz, takes 256 bytes, at most 255 fit "
                "(fix: a topic of at most 196 characters with sinkName 'local-file-sink-backup', "
                "or a shorter sinkName)"
            ),
        ),
        (
            # encfs: .kcb-copy-{file}.part, file = 111 + 1 + 22 + 1 + 10 + 14 + 14 = 173.
            {
                "topics": ["t" * 111],
                "sinkRotation": "daily",
                "sinkFormat": "envelope",
                "backup": {"enabled": True, "engine": "encfs"},
            },
            (
                "(111 characters) is too long for its files' names on the encfs backup volume: "
                ".kcb-copy-{file}.part of a compressed envelope file, {file} = "
                "{topic}-{sinkName}-{period}.envelope.sink-{epoch}.gz, takes 188 bytes, at most "
                "175 fit (fix: a topic of at most 98 characters"
            ),
        ),
        (
            {"topics": ["t" * 191], "backup": {"enabled": True, "engine": "gocryptfs"}},
            (
                "on the gocryptfs backup volume: .kcb-copy-{file}.part of a compressed value file, "
                "{file} = {topic}-{sinkName}-{period}.sink-{epoch}.gz, takes 256 bytes, at most "
                "255 fit (fix: a topic of at most 190 characters"
            ),
        ),
    ],
)
def test_values_that_cannot_work_are_named(data: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    assert message in str(caught.value)


def test_the_longest_names_that_fit_are_accepted() -> None:
    """The limits of the refusals above, exactly: one character less fits."""
    parse_config({"topics": ["t" * 196]})
    parse_config(
        {
            "topics": ["t" * 98],
            "sinkRotation": "daily",
            "sinkFormat": "envelope",
            "backup": {"enabled": True, "engine": "encfs"},
        }
    )
    parse_config({"topics": ["t" * 190], "backup": {"enabled": True}})  # auto: gocryptfs
    parse_config({"topics": ["a"], "reconcileIntervalSeconds": 300, "restartTimeout": "366d"})


def test_a_subdirectory_inside_the_volume_is_fine() -> None:
    config = parse_config({"topics": ["a"], "backup": {"snapshotSubdir": "kcb/snapshots"}})
    assert config.backup.snapshot_root == Path("/mnt/backup/kcb/snapshots")


def test_the_default_engine_is_auto_and_new_volumes_are_gocryptfs() -> None:
    backup = parse_config({"topics": ["a"]}).backup
    assert (backup.engine, backup.new_volume_engine.value) == ("auto", "gocryptfs")
    explicit = parse_config({"topics": ["a"], "backup": {"engine": "encfs"}}).backup
    assert explicit.new_volume_engine.value == "encfs"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"file": "/tmp/x.sink"}, "is invalid: connect.connectorConfig: 'file' is set by the"),
        ({"topics": "other"}, "'topics' is set by the supervisor for each topic's FileStreamSink"),
        ({"a b": "1"}, "'a b' is not a config name (letters, digits, '.', '_', '-')"),
        ({"errors.tolerance": "all\nfile=x"}, "errors.tolerance: 'all\\nfile=x' must not contain"),
    ],
)
def test_connector_config_adds_keys_and_never_replaces_the_sinks(
    extra: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config({"topics": ["a"], "connect": {"connectorConfig": extra}})
    assert message in str(error.value)
    kept = parse_config(
        {"topics": ["a"], "connect": {"connectorConfig": {"errors.tolerance": "all"}}}
    )
    assert kept.connect.connector_config == {"errors.tolerance": "all"}
