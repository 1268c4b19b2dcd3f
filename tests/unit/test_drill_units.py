"""Restore drill pieces that need no broker: when a scheduled drill is due, the sample (the
newest N planned lines across files), the scratch topic's name, the hash, the config keys, the
drill record and the metrics read from it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from kafka_connect_backup.cli import build_parser
from kafka_connect_backup.config import ConfigError, DrillSettings, parse_config
from kafka_connect_backup.inspect.drill import (
    DrillReport,
    TopicDrill,
    first_difference,
    newest,
    sample_values,
    scratch_name,
    values_sha256,
)
from kafka_connect_backup.inspect.drill_record import (
    DrillRecord,
    load_last_drill,
    record_drill,
    save_drill,
)
from kafka_connect_backup.kafka.timefilter import MissingTimestamp, TimeFilter, TimeWindow
from kafka_connect_backup.layout.names import DRILL_NAME
from kafka_connect_backup.restore.plan import scan
from kafka_connect_backup.restore.sources import from_patterns
from kafka_connect_backup.supervisor.drills import DrillMetrics, drill_due
from kafka_connect_backup.supervisor.metrics import Metrics

pytestmark = pytest.mark.unit

DAY = 86400.0
NOW = 1_800_000_000.0
WEEKLY = DrillSettings(enabled=True, every="7d")


def record(
    finished_at: float, topics: tuple[str, ...] = ("a", "b"), ok: bool = True
) -> DrillRecord:
    return DrillRecord(finished_at=finished_at, ok=ok, last_success=finished_at, topics=topics)


@pytest.mark.parametrize(
    ("settings", "last", "due"),
    [
        (DrillSettings(), None, False),  # disabled: never
        (DrillSettings(enabled=False), record(NOW - 30 * DAY), False),
        (WEEKLY, None, True),  # no drill yet
        (WEEKLY, record(NOW - 6 * DAY), False),
        (WEEKLY, record(NOW - 7 * DAY + 1), False),
        (WEEKLY, record(NOW - 7 * DAY), True),  # exactly `every` old
        (WEEKLY, record(NOW - 8 * DAY, ok=False), True),
        (WEEKLY, record(NOW - DAY, ok=False), False),  # a failed drill is retried after `every`
        (WEEKLY, record(NOW - DAY, topics=("a",)), True),  # a `--topic a` drill: b not covered
        (WEEKLY, record(NOW - DAY, topics=("a", "b", "gone")), False),
        (DrillSettings(enabled=True, every="90m"), record(NOW - 5401), True),
        (DrillSettings(enabled=True, every="90m"), record(NOW - 5399), False),
    ],
)
def test_drill_due(settings: DrillSettings, last: DrillRecord | None, due: bool) -> None:
    assert drill_due(settings, ["a", "b"], last, NOW) is due


def test_config_keys_and_their_errors() -> None:
    config = parse_config({"topics": ["a"]})
    assert (config.backup.drill.enabled, config.backup.drill.every) == (False, "7d")
    assert config.backup.drill.records == 1000
    assert config.backup.drill.every_seconds == 7 * DAY
    with pytest.raises(ConfigError) as error:
        parse_config({"topics": ["a"], "backup": {"drill": {"enabled": True}}})
    assert str(error.value) == (
        "config is invalid: backup: drill.enabled needs backup.enabled: a drill restores from "
        "the backup's snapshots (enable the backup, or set drill.enabled to false)"
    )
    with pytest.raises(ConfigError) as error:
        parse_config(
            {"topics": ["a"], "backup": {"drill": {"every": "weekly", "records": 0, "x": 1}}}
        )
    assert str(error.value).splitlines()[1:] == [
        (
            "  - backup.drill.every: 'weekly' is not a duration: use a number with an optional "
            "unit s, m, h or d (for example 30s, 90m, 23h, 1d)"
        ),
        "  - backup.drill.records: Input should be greater than or equal to 1",
        "  - backup.drill.x: unknown key (check its spelling and nesting)",
    ]


def _plan(tmp_path: Path, counts: list[int], torn: bool = False):
    """Sink files of topic t, oldest first, with `counts` lines each ("f{file}-{line}")."""
    for index, count in enumerate(counts):
        body = "".join(f"f{index}-{n}\n" for n in range(count)) + ("torn" if torn else "")
        (tmp_path / f"t-s-2026-{index + 1:02d}.sink").write_text(body)
    sources = from_patterns([str(tmp_path / "*.sink")])
    everything = TimeFilter(TimeWindow(None, None), "utcTime")
    return scan(sources, everything, MissingTimestamp.INCLUDE)


def test_the_sample_is_the_newest_lines_across_files_in_order(tmp_path: Path) -> None:
    plan = _plan(tmp_path, [3, 0, 2], torn=True)
    assert plan.matched == 5  # torn last lines are not records
    assert sample_values(newest(plan, 3)) == [b"f0-2", b"f2-0", b"f2-1"]
    assert sample_values(newest(plan, 1)) == [b"f2-1"]
    assert sample_values(newest(plan, 5)) == [b"f0-0", b"f0-1", b"f0-2", b"f2-0", b"f2-1"]
    assert sample_values(newest(plan, 1000)) == sample_values(plan)
    assert [f.source.path.name for f in newest(plan, 3).files] == [
        "t-s-2026-01.sink",
        "t-s-2026-03.sink",
    ]
    assert plan.matched == 5  # the plan itself is not changed


def test_the_sample_of_a_plan_with_gaps(tmp_path: Path) -> None:
    plan = _plan(tmp_path, [6])
    plan.files[0].ranges = [(0, 2), (4, 6)]  # lines 2 and 3 not planned
    assert sample_values(newest(plan, 3)) == [b"f0-1", b"f0-4", b"f0-5"]


def test_hash_and_scratch_name() -> None:
    assert values_sha256([b"a", b"b"]) == hashlib.sha256(b"a\nb\n").hexdigest()
    assert values_sha256([b"ab"]) != values_sha256([b"a", b"b"])
    assert values_sha256([]) == hashlib.sha256(b"").hexdigest()
    assert scratch_name("orders", 1790000000) == "kcb-drill-orders-1790000000"
    long = scratch_name("t" * 249, 1790000000)
    assert len(long) == 249 and long.startswith("kcb-drill-ttt") and long.endswith("-1790000000")


def test_first_difference() -> None:
    assert first_difference([b"a", b"b", b"c"], [b"a", b"x", b"c"]) == 1
    assert first_difference([b"a"], [b"b"]) == 0
    assert first_difference([b"a", b"b"], [b"a", b"b"]) == 2  # none: past the end


def test_the_report_names_what_failed() -> None:
    report = _report(None, "read back 8 of 10 records")
    assert not report.ok and report.first_error == "b: read back 8 of 10 records"
    lines = report.render().splitlines()
    assert lines[0] == "drill of alpha.0 from the backup, through Kafka at k:9092:"
    assert lines[2] == "  b: FAILED, read back 8 of 10 records (0.0s)"
    assert lines[3] == "drill FAILED: 1 of 2 topics restored exactly (2.5s)"
    unavailable = _report(error="cannot reach Kafka")
    assert unavailable.render().splitlines()[1] == "  not run: cannot reach Kafka"


def _config(tmp_path: Path):
    return parse_config({"topics": ["a", "b"], "sinkPath": str(tmp_path)})


def _report(*errors: str | None, error: str | None = None) -> DrillReport:
    report = DrillReport("alpha.0", "k:9092", error=error, finished_at=NOW, seconds=2.5)
    for name, problem in zip("ab", errors, strict=False):
        report.topics.append(TopicDrill(name, "alpha.0", records=10, error=problem))
    return report


def test_the_record_keeps_the_last_success_and_the_first_error(tmp_path: Path) -> None:
    config = _config(tmp_path)
    assert load_last_drill(config) is None
    passed = record_drill(config, _report(None, None))
    assert passed is not None and passed.ok and passed.last_success == NOW
    assert load_last_drill(config) == passed
    report = _report(None, "read back 8 of 10 records")
    report.finished_at = NOW + DAY
    failed = record_drill(config, report)
    assert failed is not None and not failed.ok
    assert (failed.last_success, failed.error) == (NOW, "b: read back 8 of 10 records")
    data = json.loads((tmp_path / DRILL_NAME).read_text())
    assert data["finishedAt"] == NOW + DAY and data["topics"] == ["a", "b"]
    assert [r["ok"] for r in data["results"]] == [True, False]
    unavailable = _report(error="cannot reach Kafka at k:9092")
    assert record_drill(config, unavailable).error == "cannot reach Kafka at k:9092"  # type: ignore[union-attr]
    aborted = _report(None)
    aborted.aborted = True
    assert record_drill(config, aborted) is None  # proves nothing: not kept
    assert load_last_drill(config).error == "cannot reach Kafka at k:9092"  # type: ignore[union-attr]


def test_an_unreadable_record_is_none_and_an_unwritable_one_is_not_fatal(tmp_path: Path) -> None:
    config = _config(tmp_path)
    (tmp_path / DRILL_NAME).write_text("{not json")
    assert load_last_drill(config) is None
    (tmp_path / DRILL_NAME).write_text(json.dumps({"ok": True}))
    assert load_last_drill(config) is None
    missing = parse_config({"topics": ["a"], "sinkPath": str(tmp_path / "absent")})
    assert save_drill(missing, record(NOW)) is False


def test_metrics_from_the_record_count_each_new_drill_once() -> None:
    metrics = Metrics()
    watch = DrillMetrics(metrics)

    def sample(name: str) -> float | None:
        return metrics.registry.get_sample_value(name)

    assert sample("kcb_drill_last_result") == -1
    watch.observe(record(NOW))  # there at start: the gauges, not the counter
    assert (sample("kcb_drill_last_result"), sample("kcb_drill_last_timestamp_seconds")) == (1, NOW)
    assert sample("kcb_drills_total") is None
    watch.observe(record(NOW))
    assert sample("kcb_drills_total") is None
    failed = DrillRecord(finished_at=NOW + 5, ok=False, last_success=NOW, seconds=3.0)
    watch.observe(failed)
    watch.observe(failed)
    assert sample("kcb_drill_last_result") == 0
    assert sample("kcb_drill_last_success_timestamp_seconds") == NOW
    assert sample("kcb_drill_last_duration_seconds") == 3.0
    assert metrics.registry.get_sample_value("kcb_drills_total", {"result": "failed"}) == 1
    assert metrics.registry.get_sample_value("kcb_drills_total", {"result": "passed"}) is None


def test_no_record_at_start_then_a_first_drill_is_counted() -> None:
    metrics = Metrics()
    watch = DrillMetrics(metrics)
    watch.observe(None)
    assert metrics.registry.get_sample_value("kcb_drill_last_result") == -1
    watch.observe(record(NOW))
    assert metrics.registry.get_sample_value("kcb_drills_total", {"result": "passed"}) == 1


@pytest.mark.parametrize("text", ["abc", "0", "1000001", "-5", "1.5"])
def test_records_must_be_a_whole_number_in_range(
    text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["drill", "--records", text])
    assert exit_info.value.code == 2
    assert f"{text!r} is not a number of records from 1 to 1000000" in capsys.readouterr().err
    assert build_parser().parse_args(["drill", "--records", "1000000"]).records == 1_000_000
