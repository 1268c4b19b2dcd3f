"""The config file (config.load_config / parse_config): any YAML document gives a valid Config
or a ConfigError whose message names the key, never another exception."""

from __future__ import annotations

import math
import string
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import example, given
from hypothesis import strategies as st

from kafka_connect_backup.config import (
    Config,
    ConfigError,
    is_topic_name,
    key_path,
    load_config,
    parse_config,
)

pytestmark = pytest.mark.fuzz

KEYS = {
    "": ["topics", "sinkName", "sinkPath", "sinkRotation", "restartTimeout", "compressAfterDays",
         "reconcileIntervalSeconds", "shutdownGraceSeconds", "connect", "kafka", "backup",
         "metrics", "logLevel", "nope"],
    "connect": ["url", "stopTimeoutSeconds", "connectorConfig", "holdWarnAfter", "nope"],
    "kafka": ["bootstrapServers"],
    "backup": ["enabled", "retention", "engine", "passwordFile", "targetDir", "mountPoint",
               "requireTargetMount", "allowInit", "snapshotSubdir", "workDir", "nope"],
    "metrics": ["host", "port"],
}  # fmt: skip
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["23h", "0s", "1d", "monthly", "daily", "gocryptfs", "INFO", "a/b", "../x",
                     "orders", ".", "orders\n", "http://x", "9" * 400 + "d"]),
)  # fmt: skip
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)


def section(prefix: str) -> st.SearchStrategy[dict[str, Any]]:
    keys = KEYS[prefix]
    value = st.deferred(lambda: st.one_of(VALUES, *(section(k) for k in KEYS if k and not prefix)))
    return st.dictionaries(st.sampled_from(keys), value, max_size=len(keys))


DOCUMENTS = st.one_of(
    section("").map(lambda d: {"topics": ["orders"], **d}),
    section(""),
    VALUES,
)
YAML_TEXT = st.one_of(
    DOCUMENTS.map(lambda d: yaml.safe_dump(d, allow_unicode=True)),
    st.text(max_size=80),
    st.lists(
        st.sampled_from(["topics: ", "[", "]", "{", "}", "a: ", "2021-13-01", "!!int ", "x",
                         "!!timestamp ", "&a ", "*a", "\n", "  ", "- ", "? ", ": ", "'", '"',
                         "!!binary ", "%YAML 1.1\n---\n", "!!python/object:os.system "]),
        max_size=12,
    ).map("".join),
)  # fmt: skip


def key_paths(data: Any, prefix: tuple[Any, ...] = ()) -> set[str]:
    """Every key path of the document, as the error messages write them (a.b.0)."""
    paths = {key_path(prefix)} if prefix else set()
    if isinstance(data, dict):
        for key, value in data.items():
            paths |= key_paths(value, (*prefix, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            paths |= key_paths(value, (*prefix, index))
    return paths


def load_text(text: str) -> Config:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.yaml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            return load_config(path)
        except ConfigError as exc:
            raise ConfigError(str(exc).replace(str(path), "config.yaml")) from None


def problems(message: str) -> list[str]:
    """The problem lines of a ConfigError: one line for one problem, or a list of them."""
    first, *rest = message.split("\n")
    if not first.startswith("config.yaml is invalid"):
        return []
    if not rest:
        return [first.removeprefix("config.yaml is invalid: ")]
    assert first == "config.yaml is invalid:" and all(line.startswith("  - ") for line in rest)
    return [line.removeprefix("  - ") for line in rest]


def names_a_key(problem: str, document: Any) -> bool:
    """The problem starts with a key path of the document (or topics, the one required key)
    and then says what is wrong with it."""
    paths = key_paths(document) | {"topics", "(top level)"}
    return any(problem.startswith(f"{path}: ") and len(problem) > len(path) + 2 for path in paths)


def check_valid(config: Config) -> None:
    """What the rest of the code may rely on once a config loaded."""
    assert config.topics and all(is_topic_name(t) for t in config.topics)
    assert len(set(config.topics)) == len(config.topics)
    assert 1 <= config.restart_timeout_seconds <= 366 * 86400
    assert 0 < config.reconcile_interval_seconds <= 300
    assert config.sink_path.is_absolute() and config.sink_path != Path("/")
    assert config.backup.mount_point != config.backup.target_dir
    assert all(":" in server for server in config.kafka.bootstrap_servers.split(","))
    assert 1 <= config.connect.hold_warn_after_seconds < math.inf
    assert 1 <= config.backup.retention <= 1000
    assert not Path(config.backup.snapshot_subdir).is_absolute()
    assert ".." not in Path(config.backup.snapshot_subdir).parts
    assert set(config.backup.snapshot_subdir) <= set(string.ascii_letters + string.digits + "._-/")


@given(text=YAML_TEXT)
@example(text="!!int")  # PyYAML: IndexError (an empty int)
@example(text="topics: [orders]\nsinkName: 2021-13-01\n")  # PyYAML: ValueError (a bad date)
@example(text="topics: !!timestamp x\n")  # PyYAML: AttributeError
@example(text="[" * 2000)  # PyYAML: RecursionError
@example(text="topics: [orders]\nrestartTimeout: '" + "9" * 400 + "d'\n")  # inf seconds
@example(text="topics: [orders]\nreconcileIntervalSeconds: .inf\n")
@example(text="topics: [orders]\nsinkPath: /\n")
@example(text="topics: [orders]\nkafka: {bootstrapServers: kafka}\n")
@example(text="topics: ['orders\\n']\n")
@example(text="topics: [a]\nbackup: {snapshotSubdir: 'a\\n'}\n")
@example(text="topics: [a\n")
@example(text="topics: [a]\n? [b]\n: c\n")
def test_any_yaml_text_gives_a_config_or_a_config_error_naming_the_key(text: str) -> None:
    try:
        config = load_text(text)
    except ConfigError as exc:
        message = str(exc)
        assert message.startswith("config.yaml")
        if "is not valid YAML" in message:
            assert "\n" not in message
            return
        if "expected a mapping" in message:
            return
        named = problems(message)
        document = yaml.safe_load(text)
        assert named and all(names_a_key(problem, document) for problem in named), message
    else:
        check_valid(config)


@given(data=DOCUMENTS)
@example(data={"topics": ["a"], "backup": {"snapshotSubdir": "a\n"}})
@example(data={"topics": ["a", "a"]})
@example(data={"topics": ["a"], "metrics": {"port": 2**70}})
@example(data={"\n": None})  # the key once printed raw: a message of two broken lines
@example(data={"": None})  # once shown as "(top level)"
@example(data={"topics": ["a"], "connect": {":": None}})
def test_any_document_gives_a_valid_config_or_names_every_bad_key(data: Any) -> None:
    """The same through YAML's own dump, so the document is known: each named key is a key
    of it (or topics, the one required key), and one problem is one line."""
    try:
        config = load_text(yaml.safe_dump(data, allow_unicode=True))
    except ConfigError as exc:
        message = str(exc)
        if "expected a mapping" in message:
            assert not isinstance(data, dict)
            return
        named = problems(message)
        assert named and all(names_a_key(problem, data) for problem in named), message
        assert (len(named) == 1) == ("\n" not in message)
    else:
        check_valid(config)


@given(name=st.one_of(st.text(max_size=8), st.text("ab.-_\n", max_size=6)))
@example(name="orders\n")  # re.match's `$` took the trailing newline
@example(name="..")
def test_restore_and_the_config_agree_on_what_a_topic_name_is(name: str) -> None:
    """restore.py checks its topic argument with is_topic_name; the config with its model."""
    try:
        parse_config({"topics": [name]})
    except ConfigError:
        accepted = False
    else:
        accepted = True
    assert is_topic_name(name) == accepted
