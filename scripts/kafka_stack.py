"""A real local Kafka stack from Apache's jars: a single-node KRaft broker and a Connect
standalone worker, on free loopback ports, with their logs in a known directory.

Used by the tests (as pytest fixtures), `make demo` and `make bench`. The jars come from
`scripts/setup/kafka-jars.sh` (the version pinned in images/connect/pom.xml):
`.tools/kafka/libs` is the classpath and `.tools/kafka/plugins` is Connect's `plugin.path`,
so the FileStream connectors are found the way Kafka >= 3.2 requires, and so is the record
envelope transform (`plugins/kcb-envelope`, built from images/connect/envelope/).

`SecureBroker` is the same broker accepting clients only with TLS and authentication (SASL
SCRAM/PLAIN/OAUTHBEARER, mutual TLS), ACLs enforced, its own CA made with openssl;
`connect_security_properties` is the one place that builds a Connect worker's security
settings the way the chart renders them (secrets as ${directory:...} references);
`sink_acls` is the least ACL set of a sink connector's principal.

Every JVM is started with PR_SET_PDEATHSIG, so it dies with the Python process that started
it even when that process is killed: no orphan JVMs after a crashed test run.
"""

from __future__ import annotations

import base64
import ctypes
import ipaddress
import os
import secrets
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
from typing import Self, cast

import requests
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    NewTopic,
    ResourcePatternType,
    ResourceType,
)

from waiting import eventually

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


# librdkafka configuration, as confluent-kafka's clients take it.
KafkaSettings = dict[str, str | int | float | bool]


class StackError(RuntimeError):
    """A component of the local stack failed to start; the message points at its log."""


_handed_out: set[int] = set()


def free_port() -> int:
    """A free loopback port never handed out before in this process: the kernel may give the
    same ephemeral port to two closed probes in a row, and one broker's listeners on one port
    fail to start ("If you have two listeners on the same port ...")."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in _handed_out:
            _handed_out.add(port)
            return port


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


def java_command(
    main_class: str,
    args: Sequence[str],
    log_config: Path | None = None,
    jvm_options: Sequence[str] = (),
) -> list[str]:
    _require_jars()
    command = [_java(), "-Xms128m", "-Xmx1g", "-XX:+UseG1GC", "-cp", f"{LIBS}/*"]
    if log_config is not None:
        command.append(f"-Dlog4j2.configurationFile={log_config}")
    return [*command, *jvm_options, main_class, *args]


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
    # JVM options before the main class, e.g. -D system properties.
    jvm_options: list[str] = field(default_factory=list, kw_only=True)

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
            java_command(main_class, args, log_config, self.jvm_options),
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


def _properties_text(properties: dict[str, str]) -> str:
    return "".join(f"{key}={value}\n" for key, value in properties.items())


# What every local broker shares, plaintext or secured: one node, replication factor 1.
_SERVER_COMMON = {
    "process.roles": "broker,controller",
    "node.id": "1",
    "controller.listener.names": "CONTROLLER",
    "num.partitions": "1",
    "offsets.topic.replication.factor": "1",
    "offsets.topic.num.partitions": "5",
    "transaction.state.log.replication.factor": "1",
    "transaction.state.log.min.isr": "1",
    "share.coordinator.state.topic.replication.factor": "1",
    "share.coordinator.state.topic.min.isr": "1",
    "group.initial.rebalance.delay.ms": "0",
    "auto.create.topics.enable": "false",
    # Tests produce records with fixed historical timestamps (2026-01-01, 1970); the default
    # 7-day time retention would delete them whenever its 5-minute check happens to run during
    # a test, so whether a test passed would depend on today's date and on timing.
    "log.retention.ms": "-1",
}


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

    def admin_settings(self) -> KafkaSettings:
        """librdkafka settings of a client allowed everything (the stack's own admin)."""
        return {"bootstrap.servers": self.bootstrap}

    def admin(self) -> AdminClient:
        return AdminClient(self.admin_settings())

    def _listener_properties(self) -> dict[str, str]:
        listeners = f"PLAINTEXT://{self.bootstrap},CONTROLLER://127.0.0.1:{self.controller_port}"
        return {
            "listeners": listeners,
            "advertised.listeners": listeners,
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        }

    def _prepare(self) -> None:
        """Make the files the configuration refers to (nothing for a plaintext broker)."""

    def _format_options(self) -> list[str]:
        """Extra options of `kafka-storage format` (SCRAM users for a secured broker)."""
        return []

    def _write_config(self) -> Path:
        config = self.work_dir / "server.properties"
        properties = {
            **_SERVER_COMMON,
            "controller.quorum.bootstrap.servers": f"127.0.0.1:{self.controller_port}",
            "log.dirs": str(self.work_dir / "data"),
            **self._listener_properties(),
        }
        config.touch(mode=0o600)  # a secured broker's holds the PLAIN users' passwords
        config.write_text(_properties_text(properties))
        return config

    def start(self, timeout: float = 90) -> Self:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self._prepare()
        config = self._write_config()
        if not (self.work_dir / "data" / "meta.properties").exists():
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
            formatted = run_kafka_tool(
                "kafka.tools.StorageTool",
                # `=` form: an id may start with "-", which would read as an option.
                [
                    "format",
                    "--standalone",
                    f"--cluster-id={cluster_id}",
                    "-c",
                    str(config),
                    *self._format_options(),
                ],
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
        """Create a topic and wait until every partition has a leader: right after
        create_topics returns, a produce or offsets request may still get
        NOT_LEADER_FOR_PARTITION (facts.md)."""
        admin = self.admin()  # keep a reference: a collected client cancels its futures
        futures = admin.create_topics(
            [NewTopic(name, num_partitions=partitions, replication_factor=1)]
        )
        futures[name].result(timeout)
        deadline = time.monotonic() + timeout
        while not self._has_leaders(admin, name, partitions):
            if time.monotonic() > deadline:
                raise StackError(f"topic {name} has no leader for every partition after {timeout}s")
            time.sleep(0.1)
        return name

    @staticmethod
    def _has_leaders(admin: AdminClient, name: str, partitions: int) -> bool:
        topic = admin.list_topics(name, timeout=5).topics.get(name)
        if topic is None or topic.error is not None or len(topic.partitions) != partitions:
            return False
        return all(p.leader >= 0 and p.error is None for p in topic.partitions.values())


# --- A secured broker: TLS from its own CA, SASL (SCRAM, PLAIN, OAUTHBEARER), mutual TLS, ACLs.

SASL_MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN", "OAUTHBEARER")
SCRAM_MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256")
SCRAM_USERS = ("admin", "backup", "restore", "nobody")  # nobody: authenticates, has no ACL
PLAIN_USERS = ("backup", "restore")
CERT_USERS = ("backup", "restore")  # client certificates CN=<user> from the broker's CA
SUPER_USERS = ("User:admin", "User:ANONYMOUS")  # ANONYMOUS: the PLAINTEXT internal listeners

# None matches any value in an ACL filter (confluent-kafka's type hints say str).
_ANY = cast("str", None)

# One resource a principal may act on: (resource type, name, pattern type, operation).
AclSpec = tuple[ResourceType, str, ResourcePatternType, AclOperation]


@dataclass(frozen=True)
class ClientCert:
    """A client certificate and its unencrypted PKCS#8 private key (PEM files)."""

    cert: Path
    key: Path


def _openssl(directory: Path, *args: str) -> None:
    done = subprocess.run(
        ["openssl", *args], cwd=directory, capture_output=True, check=False, timeout=60
    )
    if done.returncode != 0:
        raise StackError(f"openssl {args[0]} failed: {done.stderr.decode(errors='replace')}")


def _private_key(directory: Path, name: str) -> Path:
    """A new EC P-256 key as unencrypted PKCS#8 PEM (what Java's PEM keystore and librdkafka
    read). EC, not RSA: seven RSA-2048 keys took 4-5 s of the broker's start on a busy machine."""
    _openssl(directory, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-out", f"{name}.raw.key")  # fmt: skip
    _openssl(directory, "pkcs8", "-topk8", "-nocrypt", "-in", f"{name}.raw.key",
             "-out", f"{name}.key")  # fmt: skip
    (directory / f"{name}.raw.key").unlink()
    key = directory / f"{name}.key"
    key.chmod(0o600)
    return key


def make_ca(directory: Path, name: str, common_name: str) -> Path:
    """A self-signed CA in `directory` (`{name}.crt`, `{name}.key`); returns the certificate."""
    directory.mkdir(parents=True, exist_ok=True)
    _private_key(directory, name)
    _openssl(directory, "req", "-x509", "-new", "-key", f"{name}.key", "-out", f"{name}.crt",
             "-days", "365", "-subj", f"/CN={common_name}",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign")  # fmt: skip
    return directory / f"{name}.crt"


def issue_cert(
    directory: Path, ca: str, name: str, common_name: str, extensions: Sequence[str]
) -> ClientCert:
    """A certificate signed by the CA `{ca}.crt`/`{ca}.key` in `directory`, with the given
    X.509v3 extension lines; writes `{name}.crt` and `{name}.key`."""
    _private_key(directory, name)
    _openssl(directory, "req", "-new", "-key", f"{name}.key", "-out", f"{name}.csr",
             "-subj", f"/CN={common_name}")  # fmt: skip
    (directory / f"{name}.ext").write_text("".join(f"{line}\n" for line in extensions))
    _openssl(directory, "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt",
             "-CAkey", f"{ca}.key", "-set_serial", str(secrets.randbits(63)), "-days", "365",
             "-extfile", f"{name}.ext", "-out", f"{name}.crt")  # fmt: skip
    return ClientCert(directory / f"{name}.crt", directory / f"{name}.key")


def _subject_alt_name(host: str) -> str:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return f"subjectAltName=DNS:{host}"
    return f"subjectAltName=IP:{host}"


def write_secret_dir(directory: Path, items: dict[str, bytes]) -> Path:
    """Files laid out as the kubelet mounts a Secret: each key a symlink `key -> ..data/key`,
    `..data` a symlink to a timestamped directory holding the files (mode 0600). Connect's
    DirectoryConfigProvider must read through exactly this layout in a pod."""
    directory.mkdir(parents=True, exist_ok=True)
    version = directory / f"..{time.strftime('%Y_%m_%d_%H_%M_%S')}.{secrets.token_hex(4)}"
    version.mkdir()
    for key, value in items.items():
        path = version / key
        path.write_bytes(value)
        path.chmod(0o600)
    data = directory / "..data"
    staging = directory / "..data_tmp"
    staging.symlink_to(version.name)
    staging.replace(data)
    for key in items:
        link = directory / key
        if not link.is_symlink():
            link.symlink_to(f"..data/{key}")
    return directory


@dataclass
class SecureBroker(Broker):
    """A single-node KRaft broker that accepts clients only with TLS and authentication, ACLs
    enforced (StandardAuthorizer, allow.everyone.if.no.acl.found=false):

    - SECURE (`bootstrap`, on `host`): SASL_SSL with SCRAM-SHA-512, SCRAM-SHA-256, PLAIN and
      OAUTHBEARER (Kafka's unsecured-JWT validator: the token's `sub` is the principal);
    - MTLS (`mtls_bootstrap`, on `host`): SSL with a client certificate required, principal
      User:<CN>;
    - INTERNAL and CONTROLLER: PLAINTEXT on 127.0.0.1 (principal ANONYMOUS, a super user),
      for the broker's own traffic; clients never learn of them (a metadata response names
      only the endpoints of the listener asked).

    Its own CA (`ca_cert`) signs the broker certificate (subjectAltName the host alone) and
    client certificates CN=backup and CN=restore; `other_ca_cert` is an unrelated CA, and
    `foreign_cert` a CN=backup certificate that CA signed. SCRAM users (admin, backup, restore,
    nobody) are made at format time, PLAIN users (backup, restore) by the listener's JAAS.
    Passwords are random per work directory, kept across restarts: `passwords[user]` and the
    file `password_file(user)` (0600, no trailing newline). `secret_dir(user)` lays out a
    user's credentials as a mounted Kubernetes Secret (`ca.crt`, `password`, `user.crt`,
    `user.key`).
    """

    mtls_port: int = field(default_factory=free_port)
    internal_port: int = field(default_factory=free_port)
    passwords: dict[str, str] = field(default_factory=dict, init=False)

    @property
    def tls_dir(self) -> Path:
        return self.work_dir / "tls"

    @property
    def ca_cert(self) -> Path:
        return self.tls_dir / "ca.crt"

    @property
    def other_ca_cert(self) -> Path:
        return self.tls_dir / "other-ca.crt"

    @property
    def broker_cert(self) -> Path:
        return self.tls_dir / "broker.crt"

    @property
    def foreign_cert(self) -> ClientCert:
        """CN=backup, signed by the other CA: the broker must refuse it."""
        return ClientCert(self.tls_dir / "foreign-backup.crt", self.tls_dir / "foreign-backup.key")

    def client_cert(self, user: str) -> ClientCert:
        if user not in CERT_USERS:
            raise StackError(f"no client certificate for {user}: one of {CERT_USERS}")
        return ClientCert(self.tls_dir / f"{user}.crt", self.tls_dir / f"{user}.key")

    @property
    def mtls_bootstrap(self) -> str:
        return f"{self.host}:{self.mtls_port}"

    def password_file(self, user: str) -> Path:
        return self.work_dir / f"{user}.password"

    def secret_dir(self, user: str) -> Path:
        return self.work_dir / "secrets" / user

    # -- configuration

    def _listener_properties(self) -> dict[str, str]:
        secure = f"SECURE://{self.bootstrap},MTLS://{self.mtls_bootstrap}"
        internal = f"INTERNAL://127.0.0.1:{self.internal_port}"
        plain_users = " ".join(f'user_{u}="{self.passwords[u]}"' for u in PLAIN_USERS)
        return {
            "listeners": f"{secure},{internal},CONTROLLER://127.0.0.1:{self.controller_port}",
            # The inter-broker listener must be advertised; clients see only their own.
            "advertised.listeners": f"{secure},{internal}",
            "inter.broker.listener.name": "INTERNAL",
            "listener.security.protocol.map": (
                "SECURE:SASL_SSL,MTLS:SSL,INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT"
            ),
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": str(self.tls_dir / "broker.pem"),
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(self.ca_cert),
            "listener.name.secure.sasl.enabled.mechanisms": ",".join(SASL_MECHANISMS),
            "listener.name.secure.scram-sha-512.sasl.jaas.config": (
                "org.apache.kafka.common.security.scram.ScramLoginModule required;"
            ),
            "listener.name.secure.scram-sha-256.sasl.jaas.config": (
                "org.apache.kafka.common.security.scram.ScramLoginModule required;"
            ),
            "listener.name.secure.plain.sasl.jaas.config": (
                f"org.apache.kafka.common.security.plain.PlainLoginModule required {plain_users};"
            ),
            # No server callback handler configured: Kafka's default for OAUTHBEARER is
            # OAuthBearerUnsecuredValidatorCallbackHandler (unsigned JWTs, principal = `sub`).
            "listener.name.secure.oauthbearer.sasl.jaas.config": (
                "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required"
                ' unsecuredLoginStringClaim_sub="admin";'
            ),
            "listener.name.mtls.ssl.client.auth": "required",
            "listener.name.mtls.ssl.principal.mapping.rules": "RULE:^CN=([^,]+).*$/$1/,DEFAULT",
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "allow.everyone.if.no.acl.found": "false",
            "super.users": ";".join(SUPER_USERS),
        }

    def _format_options(self) -> list[str]:
        return [
            f"--add-scram={mechanism}=[name={user},password={self.passwords[user]}]"
            for user in SCRAM_USERS
            for mechanism in SCRAM_MECHANISMS
        ]

    def _prepare(self) -> None:
        if not self.broker_cert.exists():
            self._make_tls()
        for user in SCRAM_USERS:
            path = self.password_file(user)
            if not path.exists():
                # Hex: no character the JAAS or --add-scram syntax would need escaped.
                path.touch(mode=0o600)
                path.write_text(secrets.token_hex(16))
            self.passwords[user] = path.read_text()
        for user in SCRAM_USERS:
            if not (self.secret_dir(user) / "..data").exists():
                items = {
                    "ca.crt": self.ca_cert.read_bytes(),
                    "password": self.passwords[user].encode(),
                }
                if user in CERT_USERS:
                    cert = self.client_cert(user)
                    items |= {"user.crt": cert.cert.read_bytes(), "user.key": cert.key.read_bytes()}
                write_secret_dir(self.secret_dir(user), items)

    def _make_tls(self) -> None:
        tls = self.tls_dir
        shutil.rmtree(tls, ignore_errors=True)
        make_ca(tls, "ca", "kcb test CA")
        make_ca(tls, "other-ca", "kcb unrelated CA")
        issue_cert(tls, "ca", "broker", self.host, [
            _subject_alt_name(self.host),
            "keyUsage=critical,digitalSignature",
            "extendedKeyUsage=serverAuth,clientAuth",
        ])  # fmt: skip
        client = ["keyUsage=critical,digitalSignature", "extendedKeyUsage=clientAuth"]
        for user in CERT_USERS:
            issue_cert(tls, "ca", user, user, client)
        issue_cert(tls, "other-ca", "foreign-backup", "backup", client)
        # Java's PEM keystore: the PKCS#8 key followed by the certificate, in one file.
        keystore = tls / "broker.pem"
        keystore.touch(mode=0o600)
        keystore.write_bytes((tls / "broker.key").read_bytes() + self.broker_cert.read_bytes())

    # -- clients

    def client_settings(
        self, user: str = "admin", mechanism: str = "SCRAM-SHA-512", listener: str = "secure"
    ) -> KafkaSettings:
        """librdkafka settings of a client authenticated as `user`: on the SECURE listener by
        `mechanism` (SCRAM-SHA-512, SCRAM-SHA-256, PLAIN or OAUTHBEARER as an unsecured JWT
        whose principal is `user`), or on the MTLS listener (`listener="mtls"`) with the
        user's client certificate."""
        if listener == "mtls":
            cert = self.client_cert(user)
            return {
                "bootstrap.servers": self.mtls_bootstrap,
                "security.protocol": "SSL",
                "ssl.ca.location": str(self.ca_cert),
                "ssl.certificate.location": str(cert.cert),
                "ssl.key.location": str(cert.key),
            }
        if listener != "secure":
            raise StackError(f"unknown listener {listener!r}: 'secure' or 'mtls'")
        if mechanism not in SASL_MECHANISMS:
            raise StackError(f"unknown SASL mechanism {mechanism!r}: one of {SASL_MECHANISMS}")
        settings: KafkaSettings = {
            "bootstrap.servers": self.bootstrap,
            "security.protocol": "SASL_SSL",
            "ssl.ca.location": str(self.ca_cert),
            "sasl.mechanism": mechanism,
        }
        if mechanism == "OAUTHBEARER":
            return settings | {
                "enable.sasl.oauthbearer.unsecure.jwt": "true",
                "sasl.oauthbearer.config": f"principal={user}",
            }
        if mechanism == "PLAIN" and user not in PLAIN_USERS:
            raise StackError(f"no PLAIN user {user}: one of {PLAIN_USERS}")
        return settings | {"sasl.username": user, "sasl.password": self.passwords[user]}

    def admin_settings(self) -> KafkaSettings:
        return self.client_settings("admin")

    def command_config(
        self,
        path: Path,
        user: str = "admin",
        mechanism: str = "SCRAM-SHA-512",
        listener: str = "secure",
    ) -> Path:
        """A Java client properties file for `user` (the Kafka CLI tools' --command-config, and
        restore.py's): PEM truststore, SASL through sasl.jaas.config with the password inline
        (as users write them), or on the MTLS listener a PEM keystore file (key + certificate).
        Written 0600; the bootstrap address is not in it (`client_settings` has it)."""
        properties = {"ssl.truststore.type": "PEM", "ssl.truststore.location": str(self.ca_cert)}
        if listener == "mtls":
            cert = self.client_cert(user)
            keystore = self.tls_dir / f"{user}.pem"
            if not keystore.exists():
                keystore.touch(mode=0o600)
                keystore.write_bytes(cert.key.read_bytes() + cert.cert.read_bytes())
            properties |= {
                "security.protocol": "SSL",
                "ssl.keystore.type": "PEM",
                "ssl.keystore.location": str(keystore),
            }
        else:
            settings = self.client_settings(user, mechanism, listener)  # validates both
            if mechanism == "OAUTHBEARER":
                jaas = (
                    "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required"
                    f' unsecuredLoginStringClaim_sub="{user}";'
                )
            else:
                module = (
                    "plain.PlainLoginModule" if mechanism == "PLAIN" else "scram.ScramLoginModule"
                )
                jaas = (
                    f"org.apache.kafka.common.security.{module} required"
                    f' username="{user}" password="{settings["sasl.password"]}";'
                )
            properties |= {
                "security.protocol": "SASL_SSL",
                "sasl.mechanism": mechanism,
                "sasl.jaas.config": jaas,
            }
        path.touch(mode=0o600)
        path.write_text(_properties_text(properties))
        return path

    def connect_bootstrap(self, mode: str) -> str:
        """The listener a Connect worker in `mode` (connect_security_properties) talks to."""
        return self.mtls_bootstrap if mode == "tls" else self.bootstrap

    # -- ACLs

    def grant(self, principal: str, acls: Sequence[AclSpec], timeout: float = 60) -> None:
        """Allow `principal` (e.g. "User:backup") each operation, from any host; returns once
        the broker's authorizer holds them all (ACLs reach it asynchronously, through the
        metadata log: describe_acls answers from the same authorizer that checks requests)."""
        bindings = [_binding(principal, acl) for acl in acls]
        admin = self.admin()
        for future in admin.create_acls(bindings).values():
            future.result(timeout)
        self._await_acls(admin, bindings, present=True, timeout=timeout)

    def revoke(self, principal: str, acls: Sequence[AclSpec], timeout: float = 60) -> None:
        """Remove exactly these ALLOW bindings of `principal`; returns once the authorizer
        no longer holds them."""
        bindings = [_binding(principal, acl) for acl in acls]
        admin = self.admin()
        filters = [_filter_of(binding) for binding in bindings]
        for future in admin.delete_acls(filters).values():
            future.result(timeout)
        self._await_acls(admin, bindings, present=False, timeout=timeout)

    def acls(self, principal: str | None = None) -> list[AclBinding]:
        """Every ACL binding the broker holds, or those of one principal."""
        any_binding = AclBindingFilter(
            ResourceType.ANY, _ANY, ResourcePatternType.ANY, principal or _ANY, _ANY,
            AclOperation.ANY, AclPermissionType.ANY,
        )  # fmt: skip
        admin = self.admin()  # keep a reference: a collected client cancels its futures
        return list(admin.describe_acls(any_binding).result(30))

    def _await_acls(
        self, admin: AdminClient, bindings: list[AclBinding], *, present: bool, timeout: float
    ) -> None:
        any_binding = AclBindingFilter(
            ResourceType.ANY, _ANY, ResourcePatternType.ANY, _ANY, _ANY,
            AclOperation.ANY, AclPermissionType.ANY,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while True:
            held = set(admin.describe_acls(any_binding).result(timeout))
            if all((binding in held) == present for binding in bindings):
                return
            if time.monotonic() > deadline:
                state = "granted" if present else "revoked"
                raise StackError(f"ACLs not {state} after {timeout:.0f}s: {bindings}")
            time.sleep(0.05)


def sink_acls(topic: str, sink_name: str) -> list[AclSpec]:
    """The least ACLs the backup principal needs for one FileStreamSink connector
    `{topic}-{sink_name}` in a Connect standalone worker: READ on the topic (fetch; implies
    DESCRIBE for metadata and offsets) and READ on the connector's consumer group
    `connect-{topic}-{sink_name}` (join, commit, fetch offsets; implies DESCRIBE for Connect's
    GET /connectors/{n}/offsets). The worker itself needs none (its start-up DescribeCluster is
    not authorized). Each is necessary: tests/integration/test_secure_stack.py removes it and
    the sink task fails. Literal names; a PREFIXED pattern works the same."""
    return [
        (ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, AclOperation.READ),
        (
            ResourceType.GROUP,
            f"connect-{topic}-{sink_name}",
            ResourcePatternType.LITERAL,
            AclOperation.READ,
        ),
    ]


def _binding(principal: str, acl: AclSpec) -> AclBinding:
    resource_type, name, pattern_type, operation = acl
    return AclBinding(
        resource_type, name, pattern_type, principal, "*", operation, AclPermissionType.ALLOW
    )


def _filter_of(binding: AclBinding) -> AclBindingFilter:
    return AclBindingFilter(
        binding.restype, binding.name, binding.resource_pattern_type, binding.principal,
        binding.host, binding.operation, binding.permission_type,
    )  # fmt: skip


# --- Connect's Kafka security settings, as the chart renders them into worker.properties.

CONNECT_AUTH_MODES = ("scram-sha-512", "scram-sha-256", "plain", "tls")
DIRECTORY_CONFIG_PROVIDER = "org.apache.kafka.common.config.provider.DirectoryConfigProvider"
_LOGIN_MODULES = {
    "scram-sha-512": ("SCRAM-SHA-512", "org.apache.kafka.common.security.scram.ScramLoginModule"),
    "scram-sha-256": ("SCRAM-SHA-256", "org.apache.kafka.common.security.scram.ScramLoginModule"),
    "plain": ("PLAIN", "org.apache.kafka.common.security.plain.PlainLoginModule"),
}
# Connect's clients: the worker's own (its admin looks up the cluster id at start), the sink
# tasks' consumers (`consumer.`) and the admin client of the offsets and DLQ APIs (`admin.`).
CONNECT_CLIENT_PREFIXES = ("", "consumer.", "admin.")


def connect_security_properties(
    mode: str,
    secret_dir: Path,
    *,
    username: str = "",
    ca_dir: Path | None = None,
    ca_key: str = "ca.crt",
    password_key: str = "password",  # noqa: S107 (the name of a key in the Secret)
    certificate_key: str = "user.crt",
    private_key_key: str = "user.key",
) -> dict[str, str]:
    """The Kafka security settings of a Connect worker: TLS with a PEM truststore, and `mode`
    (the chart's `kafka.authentication.type`: scram-sha-512, scram-sha-256, plain, or tls for
    mutual TLS). Every secret is a reference `${directory:<dir>:<key>}` resolved by Kafka's
    DirectoryConfigProvider when the worker starts, so the file holds no secret: `secret_dir`
    is the mounted user Secret (keys `password_key`, or `certificate_key` + `private_key_key`),
    `ca_dir` the mounted CA Secret (key `ca_key`; default `secret_dir`). The client settings
    are repeated for the worker itself and with the `consumer.` and `admin.` prefixes."""

    def ref(directory: Path, key: str) -> str:
        return f"${{directory:{directory}:{key}}}"

    ca_dir = ca_dir or secret_dir
    client = {"ssl.truststore.type": "PEM", "ssl.truststore.certificates": ref(ca_dir, ca_key)}
    if mode == "tls":
        client |= {
            "security.protocol": "SSL",
            "ssl.keystore.type": "PEM",
            "ssl.keystore.certificate.chain": ref(secret_dir, certificate_key),
            "ssl.keystore.key": ref(secret_dir, private_key_key),
        }
    elif mode in _LOGIN_MODULES:
        if not username:
            raise StackError(f"authentication {mode} needs a username")
        mechanism, login_module = _LOGIN_MODULES[mode]
        password = ref(secret_dir, password_key)
        client |= {
            "security.protocol": "SASL_SSL",
            "sasl.mechanism": mechanism,
            "sasl.jaas.config": (
                f'{login_module} required username="{username}" password="{password}";'
            ),
        }
    else:
        raise StackError(f"unknown authentication {mode!r}: one of {CONNECT_AUTH_MODES}")
    properties = {
        "config.providers": "directory",
        "config.providers.directory.class": DIRECTORY_CONFIG_PROVIDER,
        "config.providers.directory.param.allowed.paths": ",".join(
            sorted({str(secret_dir), str(ca_dir)})
        ),
    }
    for prefix in CONNECT_CLIENT_PREFIXES:
        properties |= {prefix + key: value for key, value in client.items()}
    return properties


def connector_states(connect_url: str, names: list[str]) -> dict[str, tuple[str, list[str]]]:
    """Each connector's state and its tasks' states, from Connect's REST API."""
    states = {}
    for name in names:
        body = requests.get(f"{connect_url}/connectors/{name}/status", timeout=10).json()
        states[name] = (body["connector"]["state"], [t["state"] for t in body["tasks"]])
    return states


def wait_running(connect_url: str, names: list[str], timeout: float = 30) -> None:
    """Wait until each connector and its one task are RUNNING."""
    eventually(
        lambda: connector_states(connect_url, names),
        f"connectors {names} RUNNING with one RUNNING task",
        timeout=timeout,
        until=lambda states: all(s == ("RUNNING", ["RUNNING"]) for s in states.values()),
        ignoring=(requests.RequestException, KeyError),
    )


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
        config.write_text(_properties_text(self.worker_properties()))
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


def start_secure_connect(
    work_dir: Path,
    broker: SecureBroker,
    user: str = "backup",
    mode: str = "scram-sha-512",
    *,
    extra: dict[str, str] | None = None,
    jvm_options: Sequence[str] = (),
) -> ConnectWorker:
    """A Connect worker on the secured broker as `user`, its security settings exactly as the
    chart renders them (connect_security_properties over the user's Secret-shaped dir)."""
    security = connect_security_properties(mode, broker.secret_dir(user), username=user)
    worker = ConnectWorker(
        "connect",
        work_dir,
        bootstrap=broker.connect_bootstrap(mode),
        extra={**security, **(extra or {})},
        jvm_options=list(jvm_options),
    )
    try:
        return worker.start()
    except BaseException:
        worker.stop()  # one that never got ready must not outlive the failure
        raise
