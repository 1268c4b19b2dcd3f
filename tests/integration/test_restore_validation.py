"""restore.py's checks against a real broker: unknown topic, unreachable broker, bad content
and the Continue (yes/no)? prompt (on a real pseudo-terminal, and without one). Every refusal
leaves the topic empty."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import socket
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition

from storage_helpers import RESTORE_SCRIPT, run_restore

pytestmark = pytest.mark.integration

LINES = [f'{{"n":{i},"utcTime":"2021-01-19T16:{i:02d}:00Z"}}' for i in range(20)]


def restore(*args: str) -> subprocess.CompletedProcess[str]:
    return run_restore(*args, timeout=120)


def end_offset(bootstrap: str, topic: str) -> int:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "offset-probe"})
    try:
        return int(consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)[1])
    finally:
        consumer.close()


@pytest.fixture
def sink_file(tmp_path: Path) -> Path:
    path = tmp_path / "connect1-sink29-2021-01.sink"
    path.write_text("".join(f"{line}\n" for line in LINES))
    return path


def test_unknown_topic_is_refused_before_anything_is_sent(kafka_broker, sink_file, tmp_path):
    topic = f"absent-{os.getpid()}-{time.monotonic_ns()}"
    result = restore(topic, kafka_broker.bootstrap, str(sink_file), "2021-01-19", "--yes")
    assert result.returncode == 3
    assert result.stderr == (
        f"restore.py: error: topic {topic!r} does not exist on {kafka_broker.bootstrap}: create "
        "it first, or pass --create-topic (or use --runbook, which recreates it); nothing was "
        "sent\n"
    )
    assert topic not in kafka_broker.admin().list_topics(timeout=10).topics


def test_create_topic_when_asked(kafka_broker, sink_file):
    topic = f"created-{os.getpid()}-{time.monotonic_ns()}"
    result = restore(
        topic,
        kafka_broker.bootstrap,
        str(sink_file),
        "2021-01-19T16:05",
        "--yes",
        "--create-topic",
        "--partitions",
        "1",
    )
    assert result.returncode == 0, result.stderr
    assert f"creating topic {topic} (1 partition, replication factor 1)" in result.stdout
    assert end_offset(kafka_broker.bootstrap, topic) == 15


def test_unreachable_broker_is_refused(sink_file):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens once the socket is closed
    started = time.monotonic()
    result = restore("t", f"127.0.0.1:{port}", str(sink_file), "2021-01-19", "--yes")
    assert result.returncode == 3
    assert result.stderr.startswith(
        f"restore.py: error: cannot reach Kafka at 127.0.0.1:{port} within 15s ("
    )
    assert result.stderr.endswith("check the server name and port; nothing was sent\n")
    assert time.monotonic() - started < 60


def test_bad_content_is_refused_after_the_kafka_check(kafka_broker, unique_topic, tmp_path):
    bad = tmp_path / "bad.sink"
    bad.write_bytes(b'{"utcTime":"2021-01-19T16:00Z"}\n\xff\xfe\n')
    result = restore(unique_topic, kafka_broker.bootstrap, str(bad), "2021-01-19", "--yes")
    assert (result.returncode, result.stderr) == (
        2,
        (
            f"restore.py: error: {bad} is not UTF-8 text: line 2, byte 1 (invalid start byte); "
            "is it a sink file?\n"
        ),
    )
    missing = tmp_path / "missing.sink"
    missing.write_text('{"utcTime":"2021-01-19T16:00Z"}\n{"n":1}\n')
    result = restore(
        unique_topic,
        kafka_broker.bootstrap,
        str(missing),
        "2021-01-19",
        "--yes",
        "--missing-timestamp",
        "fail",
    )
    assert result.returncode == 2
    assert "missing.sink line 2 has no readable 'utcTime' time" in result.stderr
    assert end_offset(kafka_broker.bootstrap, unique_topic) == 0


def test_without_a_terminal_and_without_yes_it_refuses_at_once(
    kafka_broker, unique_topic, sink_file
):
    started = time.monotonic()
    result = restore(unique_topic, kafka_broker.bootstrap, str(sink_file), "2021-01-19T16:10")
    assert result.returncode == 4
    assert result.stderr == (
        "restore.py: refusing to continue: no terminal to ask 'Continue (yes/no)?' on and no "
        "answer on stdin; pipe 'yes' into it, or re-run with --yes to confirm "
        "non-interactively; nothing was sent\n"
    )
    # It showed what it would have done.
    assert f"topic:   {unique_topic}" in result.stdout
    assert "records: 20 read, 10 to send, 10 skipped (before_from 10)" in result.stdout
    assert time.monotonic() - started < 60
    assert end_offset(kafka_broker.bootstrap, unique_topic) == 0


@pytest.mark.parametrize(("piped", "sent"), [("yes\n", 10), ("y\n", 10), ("no\n", 0), ("", 0)])
def test_a_piped_answer_is_taken_as_the_original_runbook_took_it(
    kafka_broker, unique_topic, sink_file, piped, sent
):
    """`echo yes | restore.py ...`: refused without a terminal before, whatever was piped."""
    result = subprocess.run(
        [sys.executable, str(RESTORE_SCRIPT), unique_topic, kafka_broker.bootstrap,
         str(sink_file), "2021-01-19T16:10"],
        input=piped, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == (0 if sent else 4), result.stderr
    assert end_offset(kafka_broker.bootstrap, unique_topic) == sent
    if piped == "no\n":
        assert result.stderr == (
            "restore.py: not confirmed (answered 'no'; 'yes' or 'y' proceeds); nothing was sent\n"
        )
    elif not piped:
        assert "no answer on stdin; pipe 'yes' into it, or re-run with --yes" in result.stderr
    else:
        assert f"Continue (yes/no)? {piped}" in result.stdout  # the answer shown after the question


def _on_terminal(args: list[str], answer: bytes) -> tuple[int, str]:
    """Run restore.py with a pseudo-terminal as its stdin/stdout/stderr; answer the prompt."""
    controller, terminal = pty.openpty()
    # A terminal has a size (a bare pty is 0x0, where a progress bar has no room).
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    process = subprocess.Popen(
        [sys.executable, str(RESTORE_SCRIPT), *args],
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        close_fds=True,
    )
    os.close(terminal)
    shown = b""
    answered = False
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([controller], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(controller, 4096)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                shown += chunk
                if not answered and b"Continue (yes/no)? " in shown:
                    os.write(controller, answer)
                    answered = True
            elif process.poll() is not None:
                break
        code = process.wait(timeout=60)
    finally:
        os.close(controller)
        if process.poll() is None:
            process.kill()
    return code, shown.decode(errors="replace")


def test_on_a_terminal_yes_or_y_proceeds(kafka_broker, unique_topic, sink_file):
    args = [unique_topic, kafka_broker.bootstrap, str(sink_file), "2021-01-19T16:10"]
    code, shown = _on_terminal(args, b"no\n")
    assert code == 4, shown
    assert "not confirmed (answered 'no'; 'yes' or 'y' proceeds); nothing was sent" in shown
    assert end_offset(kafka_broker.bootstrap, unique_topic) == 0

    code, shown = _on_terminal(args, b"y\n")
    assert code == 0, shown
    assert "delivered 10, failed 0" in shown
    assert "sending: 100%" in shown  # the progress bar, on a terminal only
    assert end_offset(kafka_broker.bootstrap, unique_topic) == 10


def test_a_record_larger_than_the_topic_takes_is_refused_before_anything_is_sent(
    kafka_broker, tmp_path
):
    """The broker would refuse it after every record before it was sent: named by file and
    line, with the topic's limit and the fix, before the first record goes out (a dry run says
    what a real run refuses)."""
    from confluent_kafka.admin import NewTopic

    topic = f"small-{os.getpid()}-{time.monotonic_ns()}"
    admin = kafka_broker.admin()
    admin.create_topics([NewTopic(topic, 1, 1, config={"max.message.bytes": "2000"})])[
        topic
    ].result(30)
    path = tmp_path / "mixed.sink"
    big = '{"utcTime":"2021-01-19T16:30Z","blob":"' + "ab" * 5000 + '"}'
    path.write_text(f"{LINES[0]}\n{LINES[1]}\n{big}\n{LINES[2]}\n")
    reason = (
        f"{path} line 3 is a record of 9.8 KiB ({len(big)} bytes), more than topic {topic} "
        "takes: its max.message.bytes is 2000, less 100 bytes of framing; raise the topic's "
        f"max.message.bytes (kafka-configs.sh --alter --entity-type topics --entity-name {topic} "
        "--add-config max.message.bytes=N), or leave those records out with --from / --to"
    )
    result = restore(topic, kafka_broker.bootstrap, str(path), "2021-01-19", "--yes")
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr == f"restore.py: error: {reason}; nothing was sent\n"
    assert end_offset(kafka_broker.bootstrap, topic) == 0
    dry = restore(topic, kafka_broker.bootstrap, str(path), "2021-01-19", "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert f"a real run refuses this: {reason}\n" in dry.stdout
    # Outside the window it is not sent, so it is no reason to refuse.
    before_big = restore(
        topic, kafka_broker.bootstrap, str(path), "2021-01-19", "--to", "2021-01-19T16:02",
        "--yes",
    )  # fmt: skip
    assert before_big.returncode == 0, before_big.stdout + before_big.stderr
    assert end_offset(kafka_broker.bootstrap, topic) == 2
