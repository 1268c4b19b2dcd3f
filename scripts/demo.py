#!/usr/bin/env python3
"""`make demo`: the whole job end to end on a local embedded Kafka.

Starts a real KRaft broker and Connect worker, the real supervisor (`kcb supervise`) with encfs
on a local directory, streams JSON events to two topics, lets three backup cycles happen,
restores one topic from a chosen time into a new topic with `restore.py --yes`, checks the
restored records are exactly the expected ones, prints where everything is, and cleans up
(also on Ctrl-C). Every number printed is measured.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer

from kafka_connect_backup.tools.fuse import is_mount_point, unmount
from kafka_stack import KafkaStack, free_port
from local_config import local_backup, local_config, write_config

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
TOPICS = ("orders", "payments")
SINK_NAME = "demo-sink"
RESTORED_TOPIC = "orders-restored"
QUIET = 2  # librdkafka: only critical messages (retries while the broker warms up are normal)


def kcb_command() -> str:
    """`kcb` as the operator can run it after `make demo`: the project's virtualenv is not on
    their PATH, so the full path of the one beside this interpreter."""
    beside = VENV_BIN / "kcb"
    return str(beside) if beside.is_file() else f"{sys.executable} -m kafka_connect_backup.cli"


def say(message: str) -> None:
    print(message, flush=True)


class EventStream:
    """Produces realistic JSON events with `utcTime` to the demo topics, remembering exactly
    what was delivered (per topic, in order) so the restore can be checked against it."""

    def __init__(self, bootstrap: str, rate_per_topic: float) -> None:
        self.producer = Producer(
            {"bootstrap.servers": bootstrap, "enable.idempotence": True, "log_level": QUIET}
        )
        self.interval = 1.0 / rate_per_topic
        self.delivered: dict[str, list[str]] = {topic: [] for topic in TOPICS}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="events", daemon=True)
        self._seq = 0

    def _event(self, topic: str) -> str:
        self._seq += 1
        now = datetime.now(UTC)
        body: dict[str, Any] = {
            "id": f"{topic[:3]}-{self._seq:07d}",
            "utcTime": now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "customer": f"c-{secrets.randbelow(500):04d}",
        }
        if topic == "orders":
            body.update(item=f"sku-{secrets.randbelow(90):03d}", qty=1 + secrets.randbelow(5))
        else:
            body.update(amountCents=100 + secrets.randbelow(90000), currency="EUR")
        return json.dumps(body, separators=(",", ":"))

    def _on_delivery(self, err: Any, msg: Any) -> None:
        if err is None:
            with self._lock:
                self.delivered[msg.topic()].append(bytes(msg.value()).decode())

    def _run(self) -> None:
        while not self._stop.is_set():
            for topic in TOPICS:
                self.producer.produce(topic, self._event(topic), on_delivery=self._on_delivery)
            self.producer.poll(0)
            self._stop.wait(self.interval)
        self.producer.flush(30)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(60)

    def counts(self) -> dict[str, int]:
        with self._lock:
            return {topic: len(lines) for topic, lines in self.delivered.items()}


def consume(bootstrap: str, topic: str, expected: int, timeout: float = 60) -> list[str]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"demo-check-{os.getpid()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "log_level": QUIET,
        }
    )
    consumer.subscribe([topic])
    values: list[str] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            batch = consumer.consume(1000, timeout=1)
            values += [bytes(m.value() or b"").decode() for m in batch if m.error() is None]
            if len(values) >= expected and not batch:
                break
    finally:
        consumer.close()
    return values


def seed_migrated_file(sink: Path) -> tuple[Path, list[str]]:
    """A file of the original chart from two months ago, idle for 40 days: the supervisor
    compresses it in its first cycle (it's labelled as seeded in the output)."""
    period = (datetime.now(UTC).replace(day=1) - timedelta(days=40)).strftime("%Y-%m")
    path = sink / f"orders-{SINK_NAME}-{period}.sink"
    moment = datetime.now(UTC) - timedelta(days=50)
    lines = [
        json.dumps(
            {"id": f"old-{i:04d}", "utcTime": (moment + timedelta(minutes=i)).isoformat()},
            separators=(",", ":"),
        )
        for i in range(200)
    ]
    path.write_text("".join(f"{line}\n" for line in lines))
    idle = time.time() - 40 * 86400
    os.utime(path, (idle, idle))
    return path, lines


def wait_until_sunk(pattern: Path, sent: list[str], timeout: float = 60) -> None:
    """Connect sinks asynchronously: wait until the sink files hold every delivered record."""
    wanted = set(sent)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines: set[str] = set()
        for path in pattern.parent.glob(pattern.name):
            lines.update(path.read_text().splitlines())
        if wanted <= lines:
            return
        time.sleep(0.5)
    raise RuntimeError(f"Connect did not sink every record to {pattern} within {timeout}s")


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


class SupervisorProcess:
    """`kcb supervise` as a child process; its JSON log is kept in a file and followed."""

    def __init__(self, config: Path, log: Path) -> None:
        self.log = log
        self.process = subprocess.Popen(
            [str(VENV_BIN / "kcb"), "supervise", "--config", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=log.open("ab"),
            stdin=subprocess.DEVNULL,
        )
        self._offset = 0

    def events(self) -> Iterator[dict[str, Any]]:
        """New log events since the last call."""
        with self.log.open("rb") as handle:
            handle.seek(self._offset)
            data = handle.read()
        complete = data[: data.rfind(b"\n") + 1]
        self._offset += len(complete)
        for line in complete.splitlines():
            with suppress(ValueError):
                yield json.loads(line)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def _count(value: Any) -> int:
    return len(value) if isinstance(value, list) else int(value)


def describe(event: dict[str, Any], cipher: Path) -> str | None:
    name = event.get("event")
    if name == "cycle.start":
        return f"cycle {event.get('cycle_id', '?')[:8]}: started"
    if name == "connectors.stopped":
        return f"  connectors stopped: {', '.join(event.get('connectors', []))}"
    if name == "cycle.compressed":
        files = [Path(f).name for f in event.get("files", [])]
        return f"  files compressed: {len(files)}" + (f" ({', '.join(files)})" if files else "")
    if name == "cycle.snapshot_taken":
        pruned = event.get("pruned") or []
        return (
            f"  snapshot taken: alpha.0 holds {event['files']} files, {event['bytes']:,} bytes "
            f"(snapshot {event['snapshot_seconds']:.2f}s, {event['engine']}"
            + (f", pruned {', '.join(pruned)}" if pruned else "")
            + f"); ciphertext now {du(cipher):,} bytes"
        )
    if name == "connectors.resumed":
        return (
            f"  connectors resumed: {', '.join(event.get('connectors', []))} "
            f"-- Connect downtime {event.get('connect_downtime_seconds')}s"
        )
    if name == "cycle.failed":
        return f"  FAILED at {event.get('step')}: {event.get('cause')}: {event.get('error')}"
    return None


@contextmanager
def interrupt_on_sigterm() -> Iterator[None]:
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run(work: Path, fast: bool) -> int:
    cycles_wanted = 3
    restart_timeout = "6s" if fast else "20s"
    rate = 20.0 if fast else 50.0
    if work.exists():
        if is_mount_point(work / "backup-plain"):
            unmount(work / "backup-plain")
        shutil.rmtree(work)
    sink, cipher, plain = work / "sink", work / "backup-cipher", work / "backup-plain"
    for directory in (sink, cipher, plain):
        directory.mkdir(parents=True)
    password = work / "password"
    password.write_text(secrets.token_urlsafe(24))
    password.chmod(0o600)

    started = time.monotonic()
    say(f"demo: work directory {work}")
    stack = KafkaStack(work / "stack")
    supervisor: SupervisorProcess | None = None
    events: EventStream | None = None
    try:
        stack.start()
        say(
            f"kafka: broker {stack.bootstrap}, Connect {stack.connect_url} "
            f"(started in {time.monotonic() - started:.1f}s)"
        )
        for topic in TOPICS:
            stack.broker.create_topic(topic, 1)
        seeded, seeded_lines = seed_migrated_file(sink)
        say(f"seeded: {seeded.name} ({len(seeded_lines)} records, idle 40 days, as migrated)")

        metrics_port = free_port()
        config = write_config(
            work / "config.yaml",
            local_config(
                topics=TOPICS,
                sink_name=SINK_NAME,
                sink_path=sink,
                connect_url=stack.connect_url,
                bootstrap_servers=stack.bootstrap,
                metrics_port=metrics_port,
                # A local directory stands in for the NFS volume here (requireTargetMount off).
                backup=local_backup(
                    password_file=password,
                    target_dir=cipher,
                    mount_point=plain,
                    work_dir=work / "kcb",
                    retention=3,
                    engine="encfs",
                ),
                restartTimeout=restart_timeout,
                reconcileIntervalSeconds=2,
            ),
        )
        events = EventStream(stack.bootstrap, rate)
        events.start()
        supervisor = SupervisorProcess(config, work / "supervisor.log")
        say(f"supervisor: kcb supervise, a cycle every {restart_timeout}, retention 3, encfs")

        done = 0
        while done < cycles_wanted:
            if supervisor.process.poll() is not None:
                say(f"supervisor exited early ({supervisor.process.returncode}); see its log")
                return 1
            for event in supervisor.events():
                line = describe(event, cipher)
                if line:
                    say(line)
                if event.get("event") == "cycle.done":
                    done += 1
                    if not event.get("ok"):
                        say(f"cycle failed: {event.get('cause')}; see {supervisor.log}")
                        return 1
                    if done == cycles_wanted - 1:
                        # Quiet the stream before the last cycle, so its snapshot holds every
                        # record produced and the restore can be checked exactly.
                        events.stop()
                        wait_until_sunk(
                            sink / f"orders-{SINK_NAME}-*.sink", events.delivered["orders"]
                        )
                        say(f"events: stopped after {events.counts()} (delivery-confirmed)")
            time.sleep(0.2)

        # Restore point: the middle of what was produced to `orders`; the seeded (old) file
        # is read too and all of it falls before the restore point.
        sent = events.delivered["orders"]
        from_time = json.loads(sent[len(sent) // 2])["utcTime"]
        expected = [line for line in sent if json.loads(line)["utcTime"] >= from_time]
        stack.broker.create_topic(RESTORED_TOPIC, 1)
        summary_path = work / "restore-summary.json"
        restore = subprocess.run(
            [
                str(VENV_BIN / "python"),
                str(ROOT / "scripts" / "restore.py"),
                RESTORED_TOPIC,
                stack.bootstrap,
                "--from",
                from_time,
                "--snapshot",
                "alpha.0",
                "--source-topic",
                "orders",
                "--config",
                str(config),
                "--yes",
                "--summary-json",
                str(summary_path),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        say(
            f"restore: restore.py {RESTORED_TOPIC} <broker> --from {from_time} --snapshot alpha.0 "
            "--source-topic orders  (reads the encrypted backup)"
        )
        for line in restore.stdout.strip().splitlines()[-8:]:
            say(f"  | {line}")
        if restore.returncode != 0:
            say(f"restore failed with exit code {restore.returncode}: {restore.stderr.strip()}")
            return 1
        got = consume(stack.bootstrap, RESTORED_TOPIC, len(expected))
        summary = json.loads(summary_path.read_text())
        say(
            f"check: {_count(summary['files'])} files read, {summary['read']} records, "
            f"{summary['matched']} at or after {from_time}, {summary['delivered']} delivered"
        )
        if got != expected:
            say(
                f"MISMATCH: expected {len(expected)} records, topic {RESTORED_TOPIC} holds "
                f"{len(got)}"
            )
            return 1
        say(
            f"VERIFIED: {RESTORED_TOPIC} holds exactly the {len(expected)} orders records "
            f"produced at or after {from_time}, in order, restored from encrypted snapshot alpha.0"
        )
        say("where things are:")
        say(f"  sink files   {sink}")
        say(f"  ciphertext   {cipher}  (encfs; password in {password})")
        listing = f"{kcb_command()} snapshots list --config {config}"
        say(f"  snapshots    {listing}  (mounts the backup privately)")
        say(f"  logs         {work / 'supervisor.log'}, {stack.work_dir}/*/logs/")
        say(f"  metrics      http://127.0.0.1:{metrics_port}/metrics (while the demo runs)")
        return 0
    except KeyboardInterrupt:
        say("interrupted: cleaning up")
        return 130
    finally:
        if events is not None:
            events.stop()
        if supervisor is not None:
            code = supervisor.stop()
            say(f"stopped: supervisor (exit {code})")
        stack.stop()
        if is_mount_point(plain):
            unmount(plain)
        say(
            f"stopped: broker and Connect; mounted: {is_mount_point(plain)}; "
            f"total {time.monotonic() - started:.0f}s"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--work-dir", type=Path, default=ROOT / ".demo")
    parser.add_argument("--fast", action="store_true", help="short cycles (used by the test)")
    args = parser.parse_args()
    with interrupt_on_sigterm():
        return run(args.work_dir.resolve(), args.fast)


if __name__ == "__main__":
    sys.exit(main())
