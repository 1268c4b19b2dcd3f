"""A real local Kafka stack from Apache's jars: a single-node KRaft broker and a Connect
standalone worker, on free loopback ports, with their logs in a known directory.

Used by the tests (as pytest fixtures), `make demo` and `make bench`. The jars come from
`scripts/setup/kafka-jars.sh` (the version pinned in images/connect/pom.xml):
`.tools/kafka/libs` is the classpath and `.tools/kafka/plugins` is Connect's `plugin.path`,
so the FileStream connectors are found the way Kafka >= 3.2 requires, and so is the record
envelope transform (`plugins/kcb-envelope`, built from images/connect/envelope/).

Every JVM is started with PR_SET_PDEATHSIG, so it dies with the Python process that started
it even when that process is killed: no orphan JVMs after a crashed test run.
"""

from __future__ import annotations

import base64
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import requests
from confluent_kafka.admin import AdminClient, NewTopic

ROOT = Path(__file__).resolve().parents[1]
KAFKA_HOME = Path(os.environ.get("KCB_KAFKA_HOME", ROOT / ".tools" / "kafka"))
LIBS = KAFKA_HOME / "libs"
PLUGINS = KAFKA_HOME / "plugins"

_PR_SET_PDEATHSIG = 1
_LOG4J2 = """\
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = {log}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
logger.kafka.name = org.apache.kafka
logger.kafka.level = INFO
"""


class StackError(RuntimeError):
    """A component of the local stack failed to start; the message points at its log."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _java() -> str:
    home = os.environ.get("JAVA_HOME")
    java = Path(home) / "bin" / "java" if home else shutil.which("java")
    if not java:
        raise StackError("java not found: run `make setup` (installs openjdk-17-jdk-headless)")
    return str(java)


def _require_jars() -> None:
    if not (LIBS.is_dir() and any(LIBS.glob("kafka_2.13-*.jar"))):
        raise StackError(f"Kafka jars missing in {LIBS}: run `make setup`")


def java_command(main_class: str, args: Sequence[str], log_config: Path | None = None) -> list[str]:
    _require_jars()
    command = [_java(), "-Xms128m", "-Xmx1g", "-XX:+UseG1GC", "-cp", f"{LIBS}/*"]
    if log_config is not None:
        command.append(f"-Dlog4j2.configurationFile={log_config}")
    return [*command, main_class, *args]


def run_kafka_tool(
    main_class: str,
    args: Sequence[str],
    *,
    stdin: bytes | None = None,
    stdin_file: Path | None = None,
    timeout: float = 600,
) -> subprocess.CompletedProcess[bytes]:
    """Run one of Kafka's command-line tools (e.g. org.apache.kafka.tools.ConsoleProducer)."""
    source = stdin_file.open("rb") if stdin_file else None
    try:
        return subprocess.run(
            java_command(main_class, args),
            input=stdin,
            stdin=source,
            capture_output=True,
            timeout=timeout,
            check=False,
            preexec_fn=_die_with_parent,
        )
    finally:
        if source:
            source.close()


def stop_process(process: subprocess.Popen[bytes] | None, timeout: float = 30) -> None:
    """SIGTERM a child still running, wait up to timeout, then SIGKILL; reaps it either way."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _wait_until(
    check: Callable[[], bool],
    process: subprocess.Popen[bytes],
    what: str,
    log: Path,
    timeout: float,
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StackError(f"{what} exited with code {process.returncode}; see {log}")
        if check():
            return
        time.sleep(0.25)
    raise StackError(f"{what} not ready after {timeout:.0f}s; see {log}")


@dataclass
class _JavaService:
    name: str
    work_dir: Path
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)
    # Detached: outlives the Python process that started it (a cluster brought up by hand);
    # otherwise it dies with it, even when that process is killed.
    detached: bool = field(default=False, kw_only=True)

    @property
    def log(self) -> Path:
        return self.work_dir / "logs" / f"{self.name}.log"

    def _spawn(self, main_class: str, args: Sequence[str]) -> subprocess.Popen[bytes]:
        logs = self.work_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        log_config = self.work_dir / f"{self.name}-log4j2.properties"
        log_config.write_text(_LOG4J2.format(log=self.log))
        stdout = (logs / f"{self.name}.stdout").open("ab")
        self.process = subprocess.Popen(
            java_command(main_class, args, log_config),
            stdout=stdout,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            # Only prctl(PR_SET_PDEATHSIG) runs there, before any thread of ours could matter.
            preexec_fn=None if self.detached else _die_with_parent,  # noqa: PLW1509
            start_new_session=self.detached,
        )
        stdout.close()
        return self.process

    def stop(self, timeout: float = 30) -> None:
        """Graceful stop (SIGTERM runs Kafka's shutdown hooks), then kill."""
        stop_process(self.process, timeout)
        self.process = None


@dataclass
class Broker(_JavaService):
    """Single-node KRaft broker+controller on 127.0.0.1, or on `host` (another address of
    this machine, e.g. the e2e cluster's node address, which its pods can reach)."""

    host: str = "127.0.0.1"
    port: int = field(default_factory=free_port)
    controller_port: int = field(default_factory=free_port)

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def admin(self) -> AdminClient:
        return AdminClient({"bootstrap.servers": self.bootstrap})

    def _write_config(self) -> Path:
        config = self.work_dir / "server.properties"
        data = self.work_dir / "data"
        config.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.bootstrap.servers=127.0.0.1:{self.controller_port}",
                    (
                        f"listeners=PLAINTEXT://{self.bootstrap},"
                        f"CONTROLLER://127.0.0.1:{self.controller_port}"
                    ),
                    (
                        f"advertised.listeners=PLAINTEXT://{self.bootstrap},"
                        f"CONTROLLER://127.0.0.1:{self.controller_port}"
                    ),
                    "controller.listener.names=CONTROLLER",
                    "inter.broker.listener.name=PLAINTEXT",
                    "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
                    f"log.dirs={data}",
                    "num.partitions=1",
                    "offsets.topic.replication.factor=1",
                    "offsets.topic.num.partitions=5",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "share.coordinator.state.topic.replication.factor=1",
                    "share.coordinator.state.topic.min.isr=1",
                    "group.initial.rebalance.delay.ms=0",
                    "auto.create.topics.enable=false",
                    "",
                ]
            )
        )
        return config

    def start(self, timeout: float = 90) -> Broker:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        config = self._write_config()
        if not (self.work_dir / "data" / "meta.properties").exists():
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
            formatted = run_kafka_tool(
                "kafka.tools.StorageTool",
                # `=` form: an id may start with "-", which would read as an option.
                ["format", "--standalone", f"--cluster-id={cluster_id}", "-c", str(config)],
                timeout=120,
            )
            if formatted.returncode != 0:
                raise StackError(f"formatting broker storage failed: {formatted.stderr.decode()}")
        process = self._spawn("kafka.Kafka", [str(config)])

        def ready() -> bool:
            # A plain TCP probe first: librdkafka would log every refused connection.
            try:
                socket.create_connection((self.host, self.port), timeout=1).close()
                self.admin().list_topics(timeout=5)
            except Exception:  # noqa: BLE001 (not accepting connections yet)
                return False
            return True

        _wait_until(ready, process, "Kafka broker", self.log, timeout)
        return self

    def create_topic(self, name: str, partitions: int = 1, timeout: float = 30) -> str:
        admin = self.admin()  # keep a reference: a collected client cancels its futures
        futures = admin.create_topics(
            [NewTopic(name, num_partitions=partitions, replication_factor=1)]
        )
        futures[name].result(timeout)
        # Metadata reaches every client shortly after creation; wait so a producer can't race it.
        deadline = time.monotonic() + timeout
        while name not in admin.list_topics(timeout=5).topics:
            if time.monotonic() > deadline:
                raise StackError(f"topic {name} not visible after {timeout}s")
            time.sleep(0.1)
        return name


@dataclass
class ConnectWorker(_JavaService):
    """Connect standalone worker; REST on 127.0.0.1, String converters as in the seed."""

    bootstrap: str = ""
    port: int = field(default_factory=free_port)
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def worker_properties(self) -> dict[str, str]:
        return {
            "bootstrap.servers": self.bootstrap,
            "key.converter": "org.apache.kafka.connect.storage.StringConverter",
            "value.converter": "org.apache.kafka.connect.storage.StringConverter",
            "key.converter.schemas.enable": "false",
            "value.converter.schemas.enable": "false",
            "offset.storage.file.filename": str(self.work_dir / "connect.offsets"),
            "offset.flush.interval.ms": "10000",
            "consumer.fetch.max.wait.ms": "100",  # as the chart sets it (configmap-connect.yaml)
            "listeners": self.url,
            "plugin.path": str(PLUGINS),
            **self.extra,
        }

    def start(self, timeout: float = 120) -> ConnectWorker:
        if not self.bootstrap:
            raise StackError("ConnectWorker needs the broker's bootstrap address")
        self.work_dir.mkdir(parents=True, exist_ok=True)
        config = self.work_dir / "worker.properties"
        config.write_text("".join(f"{k}={v}\n" for k, v in self.worker_properties().items()))
        process = self._spawn("org.apache.kafka.connect.cli.ConnectStandalone", [str(config)])

        def ready() -> bool:
            try:
                return requests.get(f"{self.url}/connectors", timeout=1).status_code == 200
            except requests.RequestException:
                return False

        _wait_until(ready, process, "Connect worker", self.log, timeout)
        return self

    def restart(self) -> ConnectWorker:
        """Stop and start again on the same port: standalone forgets its connectors."""
        self.stop()
        return self.start()


class KafkaStack:
    """Broker + Connect worker under one work directory; a context manager that always stops
    both (Connect first, so its sink tasks commit while the broker is still up)."""

    def __init__(self, work_dir: Path, *, connect: bool = True) -> None:
        self.work_dir = work_dir
        self.broker = Broker("broker", work_dir / "broker")
        self.connect: ConnectWorker | None = (
            ConnectWorker("connect", work_dir / "connect") if connect else None
        )

    @property
    def bootstrap(self) -> str:
        return self.broker.bootstrap

    @property
    def connect_url(self) -> str:
        if self.connect is None:
            raise StackError("this stack was started without a Connect worker")
        return self.connect.url

    @property
    def logs_dir(self) -> Path:
        return self.work_dir

    def start(self) -> KafkaStack:
        try:
            self.broker.start()
            if self.connect is not None:
                self.connect.bootstrap = self.broker.bootstrap
                self.connect.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.connect is not None:
            self.connect.stop()
        self.broker.stop()

    def __enter__(self) -> KafkaStack:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_broker(work_dir: Path, host: str = "127.0.0.1") -> Broker:
    return Broker("broker", work_dir, host=host).start()


def start_connect(
    work_dir: Path, bootstrap: str, extra: dict[str, str] | None = None
) -> ConnectWorker:
    return ConnectWorker("connect", work_dir, bootstrap=bootstrap, extra=extra or {}).start()
