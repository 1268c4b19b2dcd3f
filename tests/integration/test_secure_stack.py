"""The secured broker of the local stack (kafka_stack.SecureBroker) and Kafka Connect on it,
configured exactly as the chart renders it (kafka_stack.connect_security_properties).

- every mechanism authenticates, as the principal User:<user> (ACLs decide, not the listener);
- everything else is refused, and what librdkafka reports then (the package's user messages
  start from these codes and texts, so a librdkafka upgrade that changes them fails here);
- a FileStreamSink drains exactly N records with the least ACLs (kafka_stack.sink_acls), over
  SCRAM-SHA-512, SCRAM-SHA-256, PLAIN and mutual TLS; with any one removed its task fails,
  writes nothing and Connect says which ACL; granted again, the restarted task drains.

Waits are for events (a record count, a task state, an error reported), bounded only as a
safety net: nothing here depends on how fast the machine is.
"""

from __future__ import annotations

import socket
import ssl
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from confluent_kafka import (
    Consumer,
    ConsumerGroupTopicPartitions,
    KafkaError,
    KafkaException,
    Producer,
    TopicCollection,
    TopicPartition,
)
from confluent_kafka.admin import AclOperation, AdminClient, ResourcePatternType, ResourceType

from kafka_helpers import produce_json, put_connector, stop_connector, wait_for_lines
from kafka_stack import (
    SCRAM_USERS,
    AclSpec,
    ConnectWorker,
    KafkaSettings,
    SecureBroker,
    StackError,
    connect_security_properties,
    run_kafka_tool,
    sink_acls,
    write_secret_dir,
)
from waiting import eventually

pytestmark = pytest.mark.integration

Grant = Callable[[str, list[AclSpec]], None]
SAFETY = 120  # seconds: only ever reached when something is broken


def _describe(topic: str) -> list[AclSpec]:
    return [(ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, AclOperation.DESCRIBE)]


def _topic_error(settings: KafkaSettings, topic: str) -> KafkaError | None:
    """The topic's error in a metadata response to a client with these settings (which must
    authenticate: list_topics raises otherwise)."""
    metadata = AdminClient(settings).list_topics(topic, timeout=SAFETY)
    error: KafkaError | None = metadata.topics[topic].error
    return error


def _refused(settings: KafkaSettings, until: int) -> tuple[KafkaError, list[KafkaError]]:
    """A client that cannot get in: what error_cb reported until the error code `until`
    arrived (an AdminClient serves error_cb in poll), then the error of a metadata request
    (list_topics waits out its timeout, then names the broker connection's last failure)."""
    reported: list[KafkaError] = []
    config: dict[str, Any] = {**settings, "error_cb": reported.append}
    admin = AdminClient(config)
    pending = admin.describe_cluster()  # a request, so that the client connects

    def codes() -> list[int]:
        admin.poll(0.2)
        return [e.code() for e in reported]

    eventually(
        codes,
        f"error code {until} in error_cb",
        timeout=SAFETY,
        until=lambda c: until in c,
        interval=0,
    )
    with pytest.raises(KafkaException) as refused:
        admin.list_topics(timeout=1)
    pending.cancel()
    return refused.value.args[0], reported


# --- the broker: who gets in, as whom


@pytest.mark.parametrize(
    ("mechanism", "listener"),
    [
        ("SCRAM-SHA-512", "secure"),
        ("SCRAM-SHA-256", "secure"),
        ("PLAIN", "secure"),
        ("OAUTHBEARER", "secure"),  # unsecured JWT, principal=<user>
        ("", "mtls"),  # client certificate CN=<user>
    ],
)
def test_every_mechanism_authenticates_as_user_principal(
    secure_broker: SecureBroker, secure_topic: str, grant: Grant, mechanism: str, listener: str
) -> None:
    grant("User:backup", _describe(secure_topic))
    as_backup = secure_broker.client_settings("backup", mechanism or "PLAIN", listener)
    as_restore = secure_broker.client_settings("restore", mechanism or "PLAIN", listener)

    assert _topic_error(as_backup, secure_topic) is None
    metadata = AdminClient(as_backup).list_topics(secure_topic, timeout=SAFETY)
    assert len(metadata.topics[secure_topic].partitions) == 1
    # Same listener and mechanism, another principal without the ACL: refused by the ACL.
    error = _topic_error(as_restore, secure_topic)
    assert error is not None and error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED


def test_admin_is_a_super_user_and_nobody_has_no_acl(
    secure_broker: SecureBroker, secure_topic: str
) -> None:
    assert _topic_error(secure_broker.client_settings("admin"), secure_topic) is None
    error = _topic_error(secure_broker.client_settings("nobody", "SCRAM-SHA-256"), secure_topic)
    assert error is not None and error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED


def test_grant_and_revoke_are_in_force_when_they_return(
    secure_broker: SecureBroker, secure_topic: str
) -> None:
    nobody = secure_broker.client_settings("nobody")
    secure_broker.grant("User:nobody", _describe(secure_topic))
    assert _topic_error(nobody, secure_topic) is None
    secure_broker.revoke("User:nobody", _describe(secure_topic))
    error = _topic_error(nobody, secure_topic)
    assert error is not None and error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    assert secure_broker.acls("User:nobody") == []


def test_credentials_are_files_without_trailing_newline(secure_broker: SecureBroker) -> None:
    for user in SCRAM_USERS:
        path = secure_broker.password_file(user)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert path.read_text() == secure_broker.passwords[user]
        assert len(secure_broker.passwords[user]) == 32
    secret = secure_broker.secret_dir("backup")
    assert sorted(p.name for p in secret.iterdir() if not p.name.startswith("..")) == [
        "ca.crt",
        "password",
        "user.crt",
        "user.key",
    ]
    assert (secret / "password").is_symlink()  # the kubelet's layout: key -> ..data/key
    assert (secret / "password").read_text() == secure_broker.passwords["backup"]
    assert (secret / "ca.crt").read_bytes() == secure_broker.ca_cert.read_bytes()
    assert len(set(secure_broker.passwords.values())) == len(SCRAM_USERS)


@pytest.mark.parametrize(
    ("mechanism", "listener"),
    [("SCRAM-SHA-512", "secure"), ("PLAIN", "secure"), ("OAUTHBEARER", "secure"), ("", "mtls")],
)
def test_command_config_files_work_with_kafka_cli_tools(
    secure_broker: SecureBroker,
    secure_topic: str,
    grant: Grant,
    tmp_path: Path,
    mechanism: str,
    listener: str,
) -> None:
    """The Java client properties the package must translate (--command-config) are real:
    Kafka's own kafka-topics accepts them, as User:backup, who sees only what it may."""
    grant("User:backup", _describe(secure_topic))
    config = secure_broker.command_config(
        tmp_path / "client.properties", "backup", mechanism or "PLAIN", listener
    )
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    bootstrap = secure_broker.mtls_bootstrap if listener == "mtls" else secure_broker.bootstrap
    listed = run_kafka_tool(
        "org.apache.kafka.tools.TopicCommand",
        ["--bootstrap-server", bootstrap, "--command-config", str(config), "--list"],
        timeout=600,
    )
    assert listed.returncode == 0, listed.stderr.decode()
    assert listed.stdout.decode().split() == [secure_topic]


# --- refused clients, and what librdkafka says about them


@pytest.mark.parametrize(
    ("case", "until", "text"),
    [
        (
            "wrong SCRAM-SHA-512 password",
            KafkaError._AUTHENTICATION,
            (
                "SASL authentication error: Authentication failed during authentication due to "
                "invalid credentials with SASL mechanism SCRAM-SHA-512"
            ),
        ),
        (
            "unknown SCRAM user",  # the broker does not tell it from a wrong password
            KafkaError._AUTHENTICATION,
            (
                "SASL authentication error: Authentication failed during authentication due to "
                "invalid credentials with SASL mechanism SCRAM-SHA-512"
            ),
        ),
        (
            "wrong SCRAM-SHA-256 password",
            KafkaError._AUTHENTICATION,
            (
                "SASL authentication error: Authentication failed during authentication due to "
                "invalid credentials with SASL mechanism SCRAM-SHA-256"
            ),
        ),
        (
            "wrong PLAIN password",
            KafkaError._AUTHENTICATION,
            "SASL authentication error: Authentication failed: Invalid username or password",
        ),
        (
            "unknown CA",
            KafkaError._SSL,
            (
                "SSL handshake failed: error:0A000086:SSL routines::certificate verify failed: "
                "broker certificate could not be verified, verify that ssl.ca.location is "
                "correctly configured or root CA certificates are installed"
            ),
        ),
        (
            "host name not in the certificate",  # librdkafka: word for word the unknown CA's
            KafkaError._SSL,
            (
                "SSL handshake failed: error:0A000086:SSL routines::certificate verify failed: "
                "broker certificate could not be verified, verify that ssl.ca.location is "
                "correctly configured or root CA certificates are installed"
            ),
        ),
        (
            "mutual TLS without a client certificate",
            KafkaError._TRANSPORT,
            (
                "Receive failed: error:0A000412:SSL routines::ssl/tls alert bad certificate: "
                "SSL alert number 42"
            ),
        ),
        (
            "mutual TLS with a certificate of another CA",
            KafkaError._TRANSPORT,
            (
                "Receive failed: error:0A000412:SSL routines::ssl/tls alert bad certificate: "
                "SSL alert number 42"
            ),
        ),
        # The SASL_SSL listener closes these without a word librdkafka passes on: error_cb
        # only says every broker is down.
        ("PLAINTEXT client", KafkaError._ALL_BROKERS_DOWN, "brokers are down"),
        ("TLS without SASL (anonymous)", KafkaError._ALL_BROKERS_DOWN, "brokers are down"),
        ("SASL without TLS", KafkaError._ALL_BROKERS_DOWN, "brokers are down"),
    ],
)
def test_refused_client_and_what_librdkafka_reports(
    secure_broker: SecureBroker, case: str, until: int, text: str
) -> None:
    scram = secure_broker.client_settings("backup")
    ca = str(secure_broker.ca_cert)
    mtls = secure_broker.client_settings("backup", listener="mtls")
    settings: dict[str, KafkaSettings] = {
        "wrong SCRAM-SHA-512 password": {**scram, "sasl.password": "wrong"},
        "unknown SCRAM user": {**scram, "sasl.username": "ghost"},
        "wrong SCRAM-SHA-256 password": {
            **secure_broker.client_settings("backup", "SCRAM-SHA-256"),
            "sasl.password": "wrong",
        },
        "wrong PLAIN password": {
            **secure_broker.client_settings("backup", "PLAIN"),
            "sasl.password": "wrong",
        },
        "unknown CA": {**scram, "ssl.ca.location": str(secure_broker.other_ca_cert)},
        "host name not in the certificate": {
            **scram,
            "bootstrap.servers": f"localhost:{secure_broker.port}",  # SAN: IP:127.0.0.1 only
        },
        "mutual TLS without a client certificate": {
            "bootstrap.servers": secure_broker.mtls_bootstrap,
            "security.protocol": "SSL",
            "ssl.ca.location": ca,
        },
        "mutual TLS with a certificate of another CA": {
            **mtls,
            "ssl.certificate.location": str(secure_broker.foreign_cert.cert),
            "ssl.key.location": str(secure_broker.foreign_cert.key),
        },
        "PLAINTEXT client": {"bootstrap.servers": secure_broker.bootstrap},
        "TLS without SASL (anonymous)": {
            "bootstrap.servers": secure_broker.bootstrap,
            "security.protocol": "SSL",
            "ssl.ca.location": ca,
        },
        "SASL without TLS": {**scram, "security.protocol": "SASL_PLAINTEXT"},
    }
    error, reported = _refused(settings[case], until)

    assert error.code() == KafkaError._TRANSPORT
    assert error.str() == "Failed to get metadata: Local: Broker transport failure"
    first = next(e for e in reported if e.code() == until)
    assert text in first.str(), [e.str() for e in reported]


@pytest.mark.parametrize(
    ("host", "ca", "verify"),
    [
        ("localhost", "ca", (62, "Hostname mismatch, certificate is not valid for 'localhost'.")),
        ("127.0.0.1", "other", (20, "unable to get local issuer certificate")),
        ("127.0.0.1", "ca", None),
    ],
)
def test_python_ssl_tells_host_name_mismatch_from_unknown_ca(
    secure_broker: SecureBroker, host: str, ca: str, verify: tuple[int, str] | None
) -> None:
    """librdkafka reports both with the same text (the cases above); a TLS handshake of
    Python's own with the same CA file and host name tells them apart."""
    cafile = secure_broker.ca_cert if ca == "ca" else secure_broker.other_ca_cert
    context = ssl.create_default_context(cafile=str(cafile))
    with socket.create_connection((host, secure_broker.port), timeout=SAFETY) as raw:
        if verify is None:
            context.wrap_socket(raw, server_hostname=host).close()
            return
        with pytest.raises(ssl.SSLCertVerificationError) as failed:
            context.wrap_socket(raw, server_hostname=host)
    assert (failed.value.verify_code, failed.value.verify_message) == verify


def test_missing_topic_acls_as_librdkafka_reports_them(
    secure_broker: SecureBroker, secure_topic: str, grant: Grant
) -> None:
    restore = secure_broker.client_settings("restore")
    # No ACL at all: the topic is hidden from a full listing, an error when asked by name.
    admin = AdminClient(restore)
    assert secure_topic not in admin.list_topics(timeout=SAFETY).topics
    error = admin.list_topics(secure_topic, timeout=SAFETY).topics[secure_topic].error
    assert error is not None
    assert (error.code(), error.str()) == (
        KafkaError.TOPIC_AUTHORIZATION_FAILED,
        "Broker: Topic authorization failed",
    )
    with pytest.raises(KafkaException) as described:
        admin.describe_topics(TopicCollection([secure_topic]))[secure_topic].result(SAFETY)
    assert described.value.args[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    assert described.value.args[0].str() == "Broker: Topic authorization failed"

    # DESCRIBE but no WRITE: the topic is visible, a send is refused in its delivery report
    # (a plain producer: an idempotent one fails before, see the next test).
    grant("User:restore", _describe(secure_topic))
    delivered: list[KafkaError | None] = []
    producer = Producer({**restore, "enable.idempotence": False, "acks": "all"})
    producer.produce(secure_topic, b"x", on_delivery=lambda err, _msg: delivered.append(err))
    assert producer.flush(SAFETY) == 0
    assert [(e.code(), e.str()) for e in delivered if e is not None] == [
        (KafkaError.TOPIC_AUTHORIZATION_FAILED, "Broker: Topic authorization failed")
    ]
    # What to check before sending anything: the operations this principal may perform.
    described = admin.describe_topics(
        TopicCollection([secure_topic]), include_authorized_operations=True
    )[secure_topic].result(SAFETY)
    assert described.authorized_operations == [AclOperation.DESCRIBE]


def test_idempotent_producer_needs_only_topic_write(
    secure_broker: SecureBroker, secure_topic: str, grant: Grant
) -> None:
    """restore.py's producer (idempotent, acks=all) needs no cluster IDEMPOTENT_WRITE: WRITE
    on the topic is enough (KIP-679). Without WRITE on any topic its InitProducerId fails
    first with the fatal CLUSTER_AUTHORIZATION_FAILED "Failed to acquire idempotence PID",
    which confluent-kafka 2.16 raises out of flush() as a KafkaError that is no exception
    class (or as a SystemError): check the topic's authorized operations before sending."""
    grant(
        "User:restore",
        [(ResourceType.TOPIC, secure_topic, ResourcePatternType.LITERAL, AclOperation.WRITE)],
    )
    admin = AdminClient(secure_broker.client_settings("restore"))
    described = admin.describe_topics(
        TopicCollection([secure_topic]), include_authorized_operations=True
    )[secure_topic].result(SAFETY)
    assert described.authorized_operations == [AclOperation.WRITE, AclOperation.DESCRIBE]
    lines = produce_json(
        secure_broker.bootstrap,
        secure_topic,
        [{"seq": i} for i in range(10)],
        settings={**secure_broker.client_settings("restore"), "acks": "all"},
    )
    assert len(lines) == 10


def test_missing_group_acl_as_librdkafka_reports_it(
    secure_broker: SecureBroker, secure_topic: str, grant: Grant
) -> None:
    grant(
        "User:restore",
        [(ResourceType.TOPIC, secure_topic, ResourcePatternType.LITERAL, AclOperation.READ)],
    )
    restore = secure_broker.client_settings("restore")
    group = f"no-acl-{secure_topic}"
    partition = TopicPartition(secure_topic, 0)

    admin = AdminClient(restore)
    request = [ConsumerGroupTopicPartitions(group, [partition])]
    with pytest.raises(KafkaException) as listed:
        admin.list_consumer_group_offsets(request)[group].result(SAFETY)
    assert (listed.value.args[0].code(), listed.value.args[0].str()) == (
        KafkaError.GROUP_AUTHORIZATION_FAILED,
        (
            "LISTCONSUMERGROUPOFFSETS worker coordinator request failed: "
            "Broker: Group authorization failed"
        ),
    )

    # A consumer's committed() only times out; the cause comes with its next poll().
    consumer = Consumer({**restore, "group.id": group, "enable.auto.commit": False})
    try:
        with pytest.raises(KafkaException) as committed:
            consumer.committed([partition], timeout=5)
        assert (committed.value.args[0].code(), committed.value.args[0].str()) == (
            KafkaError._TIMED_OUT,
            "Failed to get committed offsets: Local: Timed out",
        )
        message = eventually(
            lambda: consumer.poll(0.5),
            "a message (the group's authorization error) from poll",
            timeout=SAFETY,
            until=lambda m: m is not None,
            interval=0,
        )
        assert message is not None
        error = message.error()
        assert error is not None
        assert (error.code(), error.str()) == (
            KafkaError.GROUP_AUTHORIZATION_FAILED,
            "FindCoordinator response error: Group authorization failed.",
        )
    finally:
        consumer.close()


# --- Kafka Connect on the secured broker


def _sink(
    worker: ConnectWorker,
    broker: SecureBroker,
    topic: str,
    sink_name: str,
    directory: Path,
    count: int,
) -> tuple[str, Path, list[str]]:
    """`count` records into `topic` (as admin), then its FileStreamSink connector
    `{topic}-{sink_name}`: (connector name, sink file, lines sent)."""
    lines = produce_json(
        broker.bootstrap,
        topic,
        [{"seq": i, "utcTime": f"2026-12-07T10:{i % 60:02d}:00Z"} for i in range(count)],
        settings=broker.client_settings("admin"),
    )
    name = f"{topic}-{sink_name}"
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{name}-2026-12.sink"
    put_connector(
        worker.url,
        name,
        {
            "connector.class": "FileStreamSink",
            "tasks.max": "1",
            "topics": topic,
            "file": str(target),
        },
    )
    return name, target, lines


def _committed(broker: SecureBroker, group: str, topic: str) -> list[int]:
    request = [ConsumerGroupTopicPartitions(group, [TopicPartition(topic, 0)])]
    admin = broker.admin()  # keep a reference: a collected client never resolves its futures
    result = admin.list_consumer_group_offsets(request)[group].result(SAFETY)
    return [tp.offset for tp in result.topic_partitions]


def _task_state(worker: ConnectWorker, name: str, state: str) -> dict[str, Any]:
    """Wait until the connector's task is in `state`; returns the task's status."""
    tasks = eventually(
        lambda: requests.get(f"{worker.url}/connectors/{name}/status", timeout=30).json()["tasks"],
        f"{name}: task {state}",
        timeout=SAFETY,
        until=lambda tasks: bool(tasks) and tasks[0]["state"] == state,
    )
    return dict(tasks[0])


def _delete(worker: ConnectWorker, name: str) -> None:
    requests.delete(f"{worker.url}/connectors/{name}", timeout=60)


COUNT = 500


@pytest.mark.parametrize("mode", ["scram-sha-512", "scram-sha-256", "plain", "tls"])
def test_sink_drains_exactly_with_the_least_acls(
    secure_broker: SecureBroker,
    secure_connect: ConnectWorker,
    secure_worker: Callable[..., ConnectWorker],
    secure_topic: str,
    grant: Grant,
    tmp_path: Path,
    mode: str,
) -> None:
    worker = secure_connect if mode == "scram-sha-512" else secure_worker(mode=mode)
    grant("User:backup", sink_acls(secure_topic, "sink"))
    name, target, lines = _sink(worker, secure_broker, secure_topic, "sink", tmp_path, COUNT)
    try:
        assert wait_for_lines(target, COUNT) == lines
        # A stop commits synchronously; Connect's offsets API reads them with `admin.`.
        stop_connector(worker.url, name)
        assert _committed(secure_broker, f"connect-{name}", secure_topic) == [COUNT]
        offsets = requests.get(f"{worker.url}/connectors/{name}/offsets", timeout=60)
        assert offsets.status_code == 200, offsets.text
        assert [o["offset"]["kafka_offset"] for o in offsets.json()["offsets"]] == [COUNT]
        assert target.read_text().splitlines() == lines
    finally:
        _delete(worker, name)


def test_sink_drains_with_a_prefixed_group_acl(
    secure_broker: SecureBroker,
    secure_connect: ConnectWorker,
    secure_topic: str,
    grant: Grant,
    tmp_path: Path,
) -> None:
    """For many topics: READ on the groups with prefix `connect-` instead of one per sink."""
    topic_read, _group_read = sink_acls(secure_topic, "sink")
    group_prefix = (ResourceType.GROUP, "connect-", ResourcePatternType.PREFIXED, AclOperation.READ)
    grant("User:backup", [topic_read, group_prefix])
    name, target, lines = _sink(secure_connect, secure_broker, secure_topic, "sink", tmp_path, 50)
    try:
        assert wait_for_lines(target, 50) == lines
    finally:
        _delete(secure_connect, name)


@pytest.mark.parametrize(
    ("missing", "instead", "trace"),
    [
        (
            "topic READ",
            None,
            (
                "org.apache.kafka.common.errors.TopicAuthorizationException: "
                "Not authorized to access topics: [{topic}]"
            ),
        ),
        (
            "group READ",
            None,
            (
                "org.apache.kafka.common.errors.GroupAuthorizationException: "
                "Not authorized to access group: connect-{topic}-sink"
            ),
        ),
        (
            "topic READ",
            "DESCRIBE",
            (
                "org.apache.kafka.common.errors.TopicAuthorizationException: "
                "Not authorized to access topics: [{topic}]"
            ),
        ),
        (
            "group READ",
            "DESCRIBE",
            (
                "org.apache.kafka.common.errors.GroupAuthorizationException: "
                "Not authorized to access group: connect-{topic}-sink"
            ),
        ),
    ],
)
def test_sink_without_one_least_acl_fails_and_writes_nothing(
    secure_broker: SecureBroker,
    secure_connect: ConnectWorker,
    secure_topic: str,
    grant: Grant,
    tmp_path: Path,
    missing: str,
    instead: str | None,
    trace: str,
) -> None:
    topic_read, group_read = sink_acls(secure_topic, "sink")
    absent = topic_read if missing == "topic READ" else group_read
    granted = [acl for acl in (topic_read, group_read) if acl != absent]
    if instead:
        granted.append((absent[0], absent[1], absent[2], AclOperation[instead]))
    grant("User:backup", granted)
    name, target, lines = _sink(secure_connect, secure_broker, secure_topic, "sink", tmp_path, 20)
    try:
        failed = _task_state(secure_connect, name, "FAILED")
        assert failed["trace"].splitlines()[0] == trace.format(topic=secure_topic)
        assert target.read_text() == ""  # the task opened its file, then wrote nothing
        assert _committed(secure_broker, f"connect-{name}", secure_topic) == [-1001]  # none

        # The ACL was all it lacked: granted, a restarted task drains (a failed task stays
        # failed until restarted: Connect does not retry an authorization error).
        grant("User:backup", [absent])
        restart = requests.post(
            f"{secure_connect.url}/connectors/{name}/tasks/0/restart", timeout=60
        )
        assert restart.status_code == 204, restart.text
        assert wait_for_lines(target, 20) == lines
    finally:
        _delete(secure_connect, name)
    log = secure_connect.log.read_text()
    assert (
        f"WorkerSinkTask{{id={name}-0}} Task threw an uncaught and unrecoverable exception" in log
    )


def test_worker_properties_hold_references_not_secrets(
    secure_broker: SecureBroker, secure_connect: ConnectWorker
) -> None:
    properties = (secure_connect.work_dir / "worker.properties").read_text()
    secret = secure_broker.secret_dir("backup")
    assert secure_broker.passwords["backup"] not in properties
    assert "PRIVATE KEY" not in properties and "CERTIFICATE" not in properties
    for prefix in ("", "consumer.", "admin."):
        assert (
            f"{prefix}sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule"
            f' required username="backup" password="${{directory:{secret}:password}}";\n'
        ) in properties
        assert f"{prefix}ssl.truststore.certificates=${{directory:{secret}:ca.crt}}\n" in properties
    # Connect logs its settings with the secrets [hidden]; the password appears nowhere.
    for log in secure_connect.log.parent.iterdir():
        assert secure_broker.passwords["backup"] not in log.read_text(errors="replace")


def test_worker_resolves_secrets_with_automatic_config_providers_disabled(
    secure_broker: SecureBroker,
    secure_worker: Callable[..., ConnectWorker],
    secure_topic: str,
    grant: Grant,
    tmp_path: Path,
) -> None:
    """Kafka 4.x's system property org.apache.kafka.automatic.config.providers lists the
    providers a client may instantiate from its own config (unset: all, in 4.3.1). Connect's
    WorkerConfig hands its providers over explicitly, so the filter does not apply to it:
    even with every provider disallowed the worker resolves ${directory:...}. The chart's
    image needs no JVM flag for it, today or if the default becomes 'none'."""
    worker = secure_worker(jvm_options=["-Dorg.apache.kafka.automatic.config.providers="])
    grant("User:backup", sink_acls(secure_topic, "sink"))
    name, target, lines = _sink(worker, secure_broker, secure_topic, "sink", tmp_path, 10)
    assert wait_for_lines(target, 10) == lines
    _delete(worker, name)


def test_connect_with_a_wrong_password_exits_naming_the_cause(
    secure_broker: SecureBroker, tmp_path: Path
) -> None:
    """The worker looks the cluster id up with its own admin client before serving REST: a
    wrong credential ends the process (exit 2: a crash loop in a pod), nothing half-started."""
    secret = write_secret_dir(
        tmp_path / "secret",
        {"ca.crt": secure_broker.ca_cert.read_bytes(), "password": b"wrong"},
    )
    worker = ConnectWorker(
        "connect",
        tmp_path / "connect",
        bootstrap=secure_broker.bootstrap,
        extra=connect_security_properties("scram-sha-512", secret, username="backup"),
    )
    try:
        with pytest.raises(StackError, match="Connect worker exited with code 2"):
            worker.start(timeout=600)
    finally:
        worker.stop()
    assert (
        "org.apache.kafka.common.errors.SaslAuthenticationException: Authentication failed "
        "during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512"
    ) in worker.log.read_text()
