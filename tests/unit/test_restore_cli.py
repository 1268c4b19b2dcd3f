"""restore.py's command line without Kafka: the original positional usage, --dry-run (which
changes nothing, and reads the target only when Kafka answers), the summary JSON, every bad
input of the issue's point 6 with its exact message and exit code, and the Continue (yes/no)?
prompt on a real pseudo-terminal."""

import gzip
import io
import json
import os
import pty
import select
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from kafka_connect_backup.kafka.client import bootstrap_servers
from kafka_connect_backup.restore.cli import main
from kafka_connect_backup.restore.confirm import NotConfirmed, confirm

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
RESTORE = ROOT / "scripts" / "restore.py"
STEM = "connect1-local-file-sink-backup"


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdin=io.StringIO(""), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def sink_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "snapshot"
    directory.mkdir()
    # The start-day defect of the original: 15:56 is before the bound, 16:30 the same day after.
    (directory / f"{STEM}-2021-01.sink").write_text(
        '{"id":1,"utcTime":"2021-01-19T15:56:00.000Z"}\n'
        '{"id":2,"utcTime":"2021-01-19T16:30:00.000Z"}\n'
        '{"id":3,"utcTime":"2021-01-20T08:00:00.000Z"}\n'
        '{"id":4}\n'
    )
    (directory / f"{STEM}-2020-12.sink-1612137600.gz").write_bytes(
        gzip.compress(b'{"id":0,"utcTime":"2020-12-31T23:59:59Z"}\n')
    )
    return directory


@pytest.fixture(autouse=True)
def no_default_config(monkeypatch, tmp_path):
    monkeypatch.setattr(
        "kafka_connect_backup.restore.validate.DEFAULT_CONFIG_PATH", tmp_path / "absent.yaml"
    )


def test_original_usage_dry_run_keeps_the_start_day(sink_dir, tmp_path):
    summary = tmp_path / "summary.json"
    code, out, err = run(
        "connect1",
        "kafka",
        f"{sink_dir}/connect*.sink*",
        "2021-01-19T15:57",
        "--dry-run",
        "--summary-json",
        str(summary),
    )
    assert code == 0, err
    assert "broker:  kafka:9092 (dry run: read only)" in out
    assert "target:  not read: cannot reach Kafka at kafka:9092 within 3s" in out
    assert "dry run: would send 2 records to connect1" in out
    data = json.loads(summary.read_text())
    assert {"files", "read", "matched", "skipped", "delivered", "failed"} <= data.keys()
    assert data["read"] == 5 and data["matched"] == 2 and data["would_send"] == 2
    assert data["skipped"] == {"before_from": 2, "missing_timestamp": 1}
    assert data["delivered"] == 0 and data["failed"] == 0
    assert [f["path"].rsplit("/", 1)[1] for f in data["files"]] == [
        f"{STEM}-2020-12.sink-1612137600.gz",
        f"{STEM}-2021-01.sink",
    ]
    assert data["files"][1]["first_record_time"] == "2021-01-19T15:56:00Z"


def test_dry_run_goes_on_when_kafka_does_not_answer(sink_dir):
    """A dry run reads the target when it can (only reads); a server that never answers
    costs it a few seconds, not the plan of the files."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(5)
        port = listener.getsockname()[1]
        code, out, _ = run("t", f"127.0.0.1:{port}", f"{sink_dir}/*", "2021-01-19", "--dry-run")
    assert code == 0
    assert f"target:  not read: cannot reach Kafka at 127.0.0.1:{port} within 3s" in out
    assert "dry run: would send" in out


def test_to_and_missing_include(sink_dir, tmp_path):
    summary = tmp_path / "s.json"
    code, _, _ = run(
        "t",
        "kafka",
        f"{sink_dir}/*.sink",
        "--from",
        "2021-01-19T15:57",
        "--to",
        "2021-01-20",
        "--missing-timestamp",
        "include",
        "--dry-run",
        "--summary-json",
        str(summary),
    )
    data = json.loads(summary.read_text())
    assert code == 0
    assert data["matched"] == 2  # id 2, and id 4 without a time
    assert data["skipped"] == {"before_from": 1, "at_or_after_to": 1}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["t", "k", "{d}/*.sink", "yesterday"],
            (
                "restore.py: error: 'yesterday' is not an ISO-8601 time (for example "
                "2021-01-19T15:57, 2021-01-19T15:57:30Z or 2021-01-19T15:57:30+01:00)\n"
            ),
        ),
        (
            ["t", "k", "{d}/*.sink", "2021-01-19T15:57", "--to", "2021-01-19T15:00"],
            (
                "restore.py: error: --to 2021-01-19T15:00:00+00:00 must be after the from time "
                "2021-01-19T15:57:00+00:00\n"
            ),
        ),
        (
            ["t", "k", "{d}/nothing*.sink", "2021-01-19T15:57"],
            "restore.py: error: no file matches '{d}/nothing*.sink'\n",
        ),
        (
            ["t", "k", "{d}/absent.sink", "2021-01-19T15:57"],
            "restore.py: error: {d}/absent.sink does not exist\n",
        ),
        (
            ["t", "k", "/proc/self/mem", "2021-01-19T15:57"],
            "restore.py: error: cannot read /proc/self/mem: Input/output error\n",
        ),
        (
            ["t", "k", "{d}/latin1.txt", "2021-01-19T15:57"],
            (
                "restore.py: error: {d}/latin1.txt is not UTF-8 text: line 2, byte 9 "
                "(invalid continuation byte); is it a sink file?\n"
            ),
        ),
        (
            ["t", "k:90x2", "{d}/*.sink", "2021-01-19T15:57"],
            (
                "restore.py: error: kafka_server 'k:90x2' has a bad port: use host or "
                "host:port (port 1-65535)\n"
            ),
        ),
        (
            ["t", "http://host:9092", "{d}/*.sink", "2021-01-19T15:57"],
            (
                "restore.py: error: kafka_server 'http://host:9092' is a URL: give host:port, "
                "no scheme (e.g. host:9092)\n"
            ),
        ),
        (
            ["t", "k", "{d}/*.sink", "0001-01-01T00:00+01:00"],
            (
                "restore.py: error: '0001-01-01T00:00+01:00': 0001-01-01T00:00:00+01:00 is "
                "outside the years 1..9999 in UTC: give a time within them (for example "
                "0001-01-01T00:00Z)\n"
            ),
        ),
        (
            ["t", "k", "{d}/*.sink", "--from-offset", "\u00b2:1"],
            (
                "restore.py: error: --from-offset '\u00b2:1' is not PARTITION:OFFSET in ASCII "
                "digits (e.g. 0:1500)\n"
            ),
        ),
        (
            ["t", "k", "{d}/*.sink"],
            (
                "restore.py: error: restore_from_time is required: an ISO-8601 time such as "
                "2021-01-19T15:57 (use --from 1970-01-01 to restore everything, or --from-offset "
                "P:O with envelope files)\n"
            ),
        ),
        (
            ["t", "k"],
            (
                "restore.py: error: restore_from_time is required: an ISO-8601 time such as "
                "2021-01-19T15:57 (use --from 1970-01-01 to restore everything, or --from-offset "
                "P:O with envelope files)\n"
            ),
        ),
        (
            ["t", "k", "--from", "2021-01-19"],
            (
                "restore.py: error: restore_files is required: a quoted glob such as "
                "'/data/filesink/snapshot/*.sink*' (or --snapshot daily.N, or --snapshot-at TIME)\n"
            ),
        ),
        (
            ["bad topic!", "k", "{d}/*.sink", "2021-01-19T15:57"],
            (
                "restore.py: error: restore_topic 'bad topic!' is not a Kafka topic name (letters, "
                "digits, '.', '_', '-'; at most 249 characters)\n"
            ),
        ),
        (
            ["t", "k", "{d}/*.sink", "2021-01-19T15:57", "--missing-timestamp", "fail"],
            (
                "restore.py: error: {d}/connect1-local-file-sink-backup-2021-01.sink line 4 has no "
                "readable 'utcTime' time (--missing-timestamp fail): {{\"id\":4}}\n"
            ),
        ),
        (
            ["t", "k", "{d}/*.sink", "2021-01-19T15:57", "--timestamp-field", "a..b"],
            (
                "restore.py: error: --timestamp-field: 'a..b' is not a field name (use e.g. "
                "utcTime or meta.time)\n"
            ),
        ),
        (
            ["t", "k", "{d}/*.sink", "2021-01-19T15:57", "--snapshot", "alpha.0"],
            "restore.py: error: give either restore_files or --snapshot, not both\n",
        ),
        (
            [
                "t",
                "k",
                "--from",
                "2021-01-19",
                "--snapshot",
                "alpha.0",
                "--snapshot-root",
                "{d}/no",
            ],
            (
                "restore.py: error: snapshot root {d}/no does not exist: mount the backup first, "
                "or give --snapshot-root\n"
            ),
        ),
        (
            ["t", "k", "{d}/*.sink", "2021-01-19", "--config", "{d}/missing.yaml"],
            (
                "restore.py: error: cannot read config file {d}/missing.yaml: No such file or "
                "directory\n"
            ),
        ),
    ],
)
def test_bad_inputs_exit_2_with_a_clear_message(sink_dir, argv, message):
    (sink_dir / "latin1.txt").write_bytes(b'{"a":1}\n{"utc":"\xe9t\xe9"}\n')
    argv = [a.format(d=sink_dir) for a in argv]
    # File contents are checked by the scan, which a real run does after checking Kafka (an
    # integration test covers that order); everything else is refused before Kafka either way.
    content = "not UTF-8" in message or "--missing-timestamp fail" in message
    for dry_run in [["--dry-run"]] if content else [[], ["--dry-run"]]:
        code, _out, err = run(*argv, *dry_run)
        assert (code, err) == (2, message.format(d=sink_dir))


def test_a_glob_the_shell_expanded_gets_quote_the_glob(sink_dir, capsys):
    """restore.py t k /d/*.sink TIME unquoted: the files fill the time's place and beyond."""
    files = sorted(str(p) for p in sink_dir.glob("*.sink*"))
    hint = (
        "if the shell expanded an unquoted glob of sink files, quote it: restore.py TOPIC "
        "SERVER '/data/filesink/snapshot/TOPIC-*.sink*' TIME"
    )
    (sink_dir / f"{STEM}-2021-02.sink").write_text('{"utcTime":"2021-02-01T00:00Z"}\n')
    three = sorted(str(p) for p in sink_dir.glob("*.sink*"))
    with pytest.raises(SystemExit) as caught:
        main(["t", "k", *three, "2021-01-19T15:57", "--dry-run"])
    assert caught.value.code == 2
    last = capsys.readouterr().err.splitlines()[-1]
    assert last == (
        f"restore.py: error: unrecognized arguments: {three[2]} 2021-01-19T15:57; {hint}"
    )
    code, _out, err = run("t", "k", *files, "--dry-run")  # two files: the second is the time
    assert code == 2
    assert err.endswith(f"; {hint}\n") and f"'{files[1]}' is not an ISO-8601 time" in err
    # A mistyped option is only that.
    with pytest.raises(SystemExit):
        main(["t", "k", f"{sink_dir}/*", "2021-01-19", "--dry-rn"])
    assert capsys.readouterr().err.splitlines()[-1] == (
        "restore.py: error: unrecognized arguments: --dry-rn"
    )


def test_entry_point_runs_as_a_script(sink_dir):
    result = subprocess.run(
        [
            sys.executable,
            str(RESTORE),
            "t",
            "kafka",
            f"{sink_dir}/*",
            "2021-01-19T15:57",
            "--dry-run",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "dry run: would send 2 records to t" in result.stdout
    bad = subprocess.run(
        [sys.executable, str(RESTORE), "t", "kafka", f"{sink_dir}/*", "soon"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 2 and "'soon' is not an ISO-8601 time" in bad.stderr
    assert RESTORE.read_text().startswith("#!/usr/bin/env python3\n")
    assert os.access(RESTORE, os.X_OK)


@pytest.mark.parametrize(
    ("server", "expected"),
    [
        ("kafka", "kafka:9092"),
        ("kafka:9093", "kafka:9093"),
        ("a,b:1", "a:9092,b:1"),
        ("[::1]", "[::1]:9092"),
        ("[::1]:9000", "[::1]:9000"),
    ],
)
def test_bare_kafka_server_means_port_9092(server, expected):
    assert bootstrap_servers(server) == expected


# -- the prompt on a real terminal ---------------------------------------------------------


def _ask_on_pty(answer: bytes | None) -> tuple[str, str]:
    """Run confirm() with a pseudo-terminal as stdin/stdout; returns (outcome, shown)."""
    controller, terminal = pty.openpty()
    stdin = os.fdopen(os.dup(terminal), "r")
    stdout = os.fdopen(os.dup(terminal), "w")
    try:
        if answer is not None:
            os.write(controller, answer)
        else:
            os.write(controller, b"\x04")  # Ctrl-D: end of input
        try:
            confirm(False, stdin, stdout)
            outcome = "yes"
        except NotConfirmed as exc:
            outcome = str(exc)
        shown = ""
        while "Continue (yes/no)? " not in shown and select.select([controller], [], [], 2)[0]:
            shown += os.read(controller, 4096).decode()
    finally:
        stdin.close()
        stdout.close()
        os.close(terminal)
        os.close(controller)
    return outcome, shown


def test_yes_or_y_proceeds_on_a_terminal():
    for answer in (b"yes\n", b"y\n", b"Y\n", b" YES \n"):
        outcome, shown = _ask_on_pty(answer)
        assert outcome == "yes", answer
        assert "Continue (yes/no)? " in shown
    for answer, label in (
        (b"no\n", "'no'"),
        (b"yep\n", "'yep'"),
        (b"YES please\n", "'YES please'"),
    ):
        outcome, _ = _ask_on_pty(answer)
        assert outcome == f"not confirmed (answered {label}; 'yes' or 'y' proceeds)"
    outcome, _ = _ask_on_pty(None)
    assert outcome == "not confirmed (answered 'nothing'; 'yes' or 'y' proceeds)"


def test_no_terminal_takes_a_piped_answer_and_yes_flag_skips_the_question():
    confirm(False, io.StringIO("yes\n"), io.StringIO())
    confirm(False, io.StringIO("Y\n"), io.StringIO())
    with pytest.raises(NotConfirmed, match=r"^not confirmed \(answered 'yep'"):
        confirm(False, io.StringIO("yep\n"), io.StringIO())
    with pytest.raises(
        NotConfirmed,
        match=r"^refusing to continue: no terminal to ask "
        r"'Continue \(yes/no\)\?' on and no answer on stdin; pipe 'yes' into it, or re-run "
        r"with --yes to confirm",
    ):
        confirm(False, io.StringIO(""), io.StringIO())
    out = io.StringIO()
    confirm(True, io.StringIO(""), out)
    assert out.getvalue() == ""


def test_a_silent_open_pipe_is_refused_after_a_short_wait(monkeypatch):
    """A stdin nobody writes to (a scheduler's open pipe) must not hang the restore."""
    monkeypatch.setattr("kafka_connect_backup.restore.confirm.PIPED_ANSWER_SECONDS", 0.2)
    reader, writer = os.pipe()
    try:
        with os.fdopen(reader, "r") as stdin, pytest.raises(NotConfirmed, match="no answer"):
            confirm(False, stdin, io.StringIO())
    finally:
        os.close(writer)


def test_torn_last_line_is_reported(tmp_path):
    path = tmp_path / f"{STEM}-2021-01.sink"
    path.write_text('{"utcTime":"2021-01-19T16:00Z"}\n{"utcTime":"2021-01-19T16:0')
    code, out, _ = run("t", "k", str(path), "2021-01-19", "--dry-run")
    assert code == 0
    assert (
        f"warning: {path} ends with a torn line (no newline: a record cut short, e.g. by a crash "
        'while writing); skipped: \'{"utcTime":"2021-01-19T16:0\''
    ) in out
    assert "read 2, matched 1, skipped 1 (torn_last_line 1)" in out


def test_config_file_gives_the_defaults(tmp_path, sink_dir):
    from kafka_connect_backup.restore.cli import build_parser
    from kafka_connect_backup.restore.validate import settings_from_args

    config = tmp_path / "config.yaml"
    config.write_text(
        "topics: [connect1]\nsinkName: sink29\nsinkPath: /srv/sink\n"
        "connect: {url: 'http://127.0.0.1:18083'}\nkafka: {bootstrapServers: 'kafka-0:9093'}\n"
        "backup: {mountPoint: /mnt/plain, snapshotSubdir: snaps}\n"
    )
    args = build_parser().parse_args(["connect1", "--from", "2021-01-19", "--config", str(config)])
    settings = settings_from_args(args, need_sources=False)
    assert settings.bootstrap == "kafka-0:9093"
    assert settings.sink_name == "sink29" and settings.sink_path == Path("/srv/sink")
    assert settings.connect_url == "http://127.0.0.1:18083"
    assert settings.snapshot_root == Path("/mnt/plain/snaps")
    assert settings.source_connector == "connect1-sink29"
    # Command-line values win over the config.
    args = build_parser().parse_args(
        ["connect1", "kafka", "--from", "2021-01-19", "--config", str(config), "--sink-name", "x"]
    )
    settings = settings_from_args(args, need_sources=False)
    assert (settings.bootstrap, settings.sink_name) == ("kafka:9092", "x")
    # A broken config is an input error naming the key.
    config.write_text("topics: [connect1]\nsinkName: 'bad name'\n")
    code, _, err = run(
        "connect1",
        "--from",
        "2021-01-19",
        "--files",
        f"{sink_dir}/*",
        "--dry-run",
        "--config",
        str(config),
    )
    assert code == 2 and "sinkName" in err


def test_runbook_refuses_a_glob_of_the_live_files_it_would_move_away(tmp_path):
    """Before this check the replay found no file (moved aside) after the topic was deleted."""
    sink = tmp_path / "filesink"
    sink.mkdir()
    (sink / f"{STEM}-2021-01.sink").write_text('{"utcTime":"2021-01-19T16:30:00Z"}\n')
    common = ["connect1", "kafka", "--from", "2021-01-19T15:57", "--sink-path", str(sink)]
    code, out, err = run(*common, "--files", f"{sink}/connect1-*.sink*", "--runbook", "--dry-run")
    assert code == 2, out + err
    assert err == (
        f"restore.py: error: restore_files names the live sink files of {STEM} "
        f"({STEM}-2021-01.sink), which the move-files step moves out of {sink} before the "
        "replay: leave out restore_files (the runbook replays the files it moved), or give "
        "--snapshot alpha.N; nothing was changed\n"
    )
    # Without the glob the same runbook plans to replay the files it will move.
    code, out, err = run(*common, "--runbook", "--dry-run")
    assert code == 0, out + err
    assert "records: 1 read, 1 to send" in out
    # A copy elsewhere is fine.
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / f"{STEM}-2021-01.sink").write_bytes((sink / f"{STEM}-2021-01.sink").read_bytes())
    code, out, err = run(*common, "--files", f"{copy}/*.sink", "--runbook", "--dry-run")
    assert code == 0, out + err


def test_version_of_restore_and_kcb(capsys: pytest.CaptureFixture[str]) -> None:
    from kafka_connect_backup import __version__
    from kafka_connect_backup.cli import main as kcb

    for entry, prog in ((main, "restore.py"), (kcb, "kcb")):
        with pytest.raises(SystemExit) as exited:
            entry(["--version"])
        assert exited.value.code == 0
        assert capsys.readouterr().out == f"{prog} {__version__}\n"


@pytest.mark.parametrize("server", ["/data/filesink/*.sink", "orders-bk-2021-01.sink", "a/b"])
def test_sink_files_in_the_kafka_server_place_name_the_argument(server: str) -> None:
    code, out, err = run("orders", server, "2021-01-19T15:57")
    assert code == 2 and out == ""
    assert err == (
        f"restore.py: error: kafka_server {server!r} looks like sink files (a path or glob), not "
        'a Kafka server: the arguments are restore_topic kafka_server "restore_files" '
        'restore_from_time, e.g. restore.py orders kafka:9092 "/data/filesink/snapshot/orders-'
        '*.sink*" 2021-01-19T15:57\n'
    )


def test_summary_json_dash_writes_the_json_alone_to_stdout(sink_dir: Path) -> None:
    code, out, err = run(
        "connect1", "kafka", f"{sink_dir}/*", "2021-01-19T15:57", "--dry-run", "--summary-json", "-"
    )
    assert code == 0, err
    summary = json.loads(out)
    assert (summary["dry_run"], summary["would_send"], summary["target"]) == (True, 2, None)
    assert "dry run: would send 2 records to connect1" in err
    assert not (Path.cwd() / "-").exists()


def test_sizes_read_in_one_unit(sink_dir: Path) -> None:
    code, out, _ = run("connect1", "kafka", f"{sink_dir}/*", "2021-01-19T15:57", "--dry-run")
    assert code == 0
    total = sum(p.stat().st_size for p in sink_dir.iterdir())
    assert f"files:   2 ({total} B)" in out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--runbook", "--step", "replay"], "give either --runbook (every step) or --step"),
        (["--runbook", "--partitions", "-5"], "--partitions -5 must be 1 or more"),
        (["--runbook", "--partitions", "0"], "--partitions 0 must be 1 or more"),
        (["--runbook", "--replication-factor", "0"], "--replication-factor 0 must be 1 or more"),
        (["--summary-json", "/nonexistent/dir/s.json"], "its directory /nonexistent/dir does not"),
        (
            ["--partitions", str(2**31)],
            f"--partitions {2**31} must be 1 or more, at most 1000000",
        ),
        (["--replication-factor", "40000"], "--replication-factor 40000 must be 1 or more, at"),
        (["--source-topic", "../etc"], "--source-topic '../etc' is not a valid name (letters,"),
        (["--sink-name", "x/../y"], "--sink-name 'x/../y' is not a valid name (letters, digits"),
        (["--delivery-timeout", "soon"], "--delivery-timeout 'soon' is not a duration: use a"),
        (["--delivery-timeout", "0.5s"], "--delivery-timeout 0.5s must be between 1s and 24h"),
        (["--delivery-timeout", "2d"], "--delivery-timeout 2d must be between 1s and 24h"),
    ],
)
def test_options_that_cannot_work_are_refused_before_anything(
    extra: list[str], message: str, tmp_path: Path
) -> None:
    code, out, err = run("orders", "127.0.0.1:9", "--from", "2021-01-19", *extra)
    assert code == 2 and out == ""
    assert err.startswith("restore.py: error: ") and message in err
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("server", ["k:0", "k:65536", "k:99999", "a:9092,b:1x"])
def test_a_port_outside_1_to_65535_is_refused(server: str) -> None:
    with pytest.raises(ValueError, match="has a bad port: use host or host:port"):
        bootstrap_servers(server)


def test_help_texts_say_what_the_code_does():
    """--dry-run reads the target topic (it said "never contacts Kafka")."""
    from kafka_connect_backup.restore.cli import build_parser

    restore_help = " ".join(build_parser().format_help().split())
    assert "never contacts Kafka" not in restore_help
    assert "it reads the target topic (records, partitions, groups) when Kafka answers" in (
        restore_help
    )


def test_verify_help_matches_what_it_compares(capsys):
    """verify --deep compares with the offsets the cycle records (it said "do not record yet")."""
    from kafka_connect_backup.cli import build_parser as kcb_parser

    with pytest.raises(SystemExit):
        kcb_parser().parse_args(["snapshots", "verify", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "do not record yet" not in text
    assert "with the sink group's committed offsets at the snapshot's stop, exactly" in text
    assert "the offsets are only a bound for value files (not compared)" in text


@pytest.mark.parametrize(
    "extra",
    [
        ["--partitions", "3"],
        ["--replication-factor", "3"],
        ["--reset-group", "billing"],
        ["--timestamp-field", "meta.time"],
        ["--key-field", "user"],
        ["--missing-timestamp", "include"],
        ["--append"],
        ["--source-topic", "connect2"],
    ],
)
def test_a_finished_runbook_is_only_the_same_restore_with_the_same_options(
    tmp_path: Path, extra: list[str]
) -> None:
    """The journal's fingerprint covers every option that changes what is sent or changed:
    before, each of these was answered "already completed, nothing to do", exit 0."""
    sink = tmp_path / "filesink"
    sink.mkdir()
    (sink / f"{STEM}-2021-01.sink").write_text('{"utcTime":"2021-01-19T16:30:00Z"}\n')
    state = tmp_path / "state"
    state.mkdir()
    # As this version and the one before it wrote it for the base command.
    fingerprint: dict[str, object] = {
        "topic": "connect1",
        "window": "from 2021-01-19T15:57:00+00:00 (inclusive) to the last record",
        "sources": [],
        "snapshot": None,
        "sink_name": "local-file-sink-backup",
    }
    finished = {"steps": {}, "created": 0, "fingerprint": fingerprint}
    (state / "restore-connect1.20210101T000000Z.done.json").write_text(json.dumps(finished))
    base = ["connect1", "127.0.0.1:9", "--from", "2021-01-19T15:57", "--sink-path", str(sink),
            "--state-dir", str(state), "--runbook", "--dry-run"]  # fmt: skip
    code, out, err = run(*base)
    assert code == 0, out + err
    assert "this restore of connect1 already completed" in out
    code, out, err = run(*base, *extra)
    assert code == 0, out + err
    assert "already completed" not in out
    assert "dry run: no step was run" in out
