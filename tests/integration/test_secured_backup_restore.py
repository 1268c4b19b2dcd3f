"""The product against a broker that accepts nothing but TLS and authentication, ACLs enforced
(kafka_stack.SecureBroker): a backup cycle, `kcb status`, a drill and restore.py in every
mechanism with exactly the ACLs of kafka/acls.py; each of those ACLs shown necessary; and every
way a login or a TLS handshake fails reported by name, before anything is sent."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import javaproperties
import pytest
import requests
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AclOperation, ResourcePatternType, ResourceType

from kafka_connect_backup.config import load_config
from kafka_connect_backup.kafka.acls import Acl, backup_acls, restore_acls
from kafka_connect_backup.kafka.topic_metadata import read_metadata
from kafka_connect_backup.layout.sinkfiles import connector_name, consumer_group
from kafka_connect_backup.supervisor import volume_lock
from kafka_connect_backup.supervisor.daemon import Supervisor
from kafka_connect_backup.supervisor.metrics import Metrics
from kafka_helpers import wait_for_lines
from kafka_stack import AclSpec, ConnectWorker, SecureBroker
from local_config import write_config
from storage_helpers import run_restore, storage_env
from supervisor_helpers import LogCapture, config_data, held_now, sink_name
from waiting import eventually

pytestmark = pytest.mark.integration

KCB = [sys.executable, "-m", "kafka_connect_backup.cli"]
_TYPES = {"topic": ResourceType.TOPIC, "group": ResourceType.GROUP, "cluster": ResourceType.BROKER}


def specs(acls: list[Acl]) -> list[AclSpec]:
    """kafka/acls.py's entries as the broker's bindings."""
    return [
        (
            _TYPES[acl.resource],
            "kafka-cluster" if acl.resource == "cluster" else acl.name,
            ResourcePatternType.PREFIXED if acl.prefixed else ResourcePatternType.LITERAL,
            getattr(AclOperation, re.sub(r"(?<!^)([A-Z])", r"_\1", acl.operation).upper()),
        )
        for acl in dict.fromkeys(acls)
    ]


def lines(first: int, count: int) -> list[str]:
    return [
        json.dumps({"n": i, "utcTime": f"2026-03-14T12:{i // 60:02d}:{i % 60:02d}Z"})
        for i in range(first, first + count)
    ]


def produce(broker: SecureBroker, topic: str, values: list[str]) -> None:
    producer = Producer({**broker.admin_settings(), "enable.idempotence": True})
    for value in values:
        producer.produce(topic, value.encode())
    assert producer.flush(60) == 0


def values_of(broker: SecureBroker, topic: str) -> list[str]:
    """Every value of partition 0, read as the admin up to the end offset."""
    consumer = Consumer({**broker.admin_settings(), "group.id": f"reader-{time.monotonic_ns()}"})
    try:
        _, end = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=30)
        consumer.assign([TopicPartition(topic, 0, 0)])
        found: list[str] = []

        def read() -> int:
            for message in consumer.consume(500, timeout=1):
                if message.error() is None:
                    found.append((message.value() or b"").decode())
            return len(found)

        eventually(
            read, f"{end} records of {topic}", timeout=60, until=lambda n: n >= end, interval=0
        )
        return found
    finally:
        consumer.close()


def end_offset(broker: SecureBroker, topic: str) -> int:
    consumer = Consumer({**broker.admin_settings(), "group.id": "end-offsets"})
    try:
        return int(consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=30)[1])
    finally:
        consumer.close()


def kafka_block(
    broker: SecureBroker, user: str, password_file: Path | None = None
) -> dict[str, Any]:
    """The supervisor config's kafka block, as the chart renders it for scram-sha-512."""
    return {
        "bootstrapServers": broker.bootstrap,
        "tls": {"enabled": True, "trustedCertificateFiles": [str(broker.ca_cert)]},
        "authentication": {
            "type": "scram-sha-512",
            "username": user,
            "passwordFile": str(password_file or broker.password_file(user)),
        },
    }


def command_config(
    broker: SecureBroker, path: Path, user: str, mechanism: str = "SCRAM-SHA-512", **over: str
) -> Path:
    """SecureBroker.command_config's file (TLS: the mutual-TLS listener's), with `over`
    replacing keys (`password` replaces the JAAS line's password)."""
    if mechanism == "TLS":
        broker.command_config(path, user, listener="mtls")
    else:
        broker.command_config(path, user, mechanism)
    props = javaproperties.loads(path.read_text())
    if "password" in over:
        jaas = props["sasl.jaas.config"]
        props["sasl.jaas.config"] = jaas.replace(broker.passwords[user], over.pop("password"))
    path.write_text(javaproperties.dumps({**props, **over}, timestamp=False))
    return path


def sink_file_of(sink_path: Path, topic: str, sink: str, values: list[str]) -> Path:
    path = sink_path / f"{topic}-{sink}-2026-03.sink"
    path.write_text("".join(f"{v}\n" for v in values))
    return path


def test_a_backup_cycle_status_and_a_drill_with_exactly_the_backup_acls(
    secure_broker: SecureBroker,
    secure_connect: ConnectWorker,
    secure_topic: str,
    grant: Any,
    tmp_path: Path,
) -> None:
    sink = sink_name()
    grant("User:backup", specs(backup_acls([secure_topic], sink)))
    logs = LogCapture()
    with storage_env(tmp_path) as env:
        path = write_config(
            tmp_path / "config.yaml",
            config_data(
                topics=[secure_topic],
                sink=sink,
                sink_path=env.sink,
                connect_url=secure_connect.url,
                backup=env.backup(engine="gocryptfs"),
                kafka=kafka_block(secure_broker, "backup"),
            ),
        )
        config = load_config(path)
        try:
            clock = held_now()  # both supervisors name one sink file
            assert Supervisor(config, http=False, clock=clock).run_once().ok  # the connector
            written = lines(0, 40)
            produce(secure_broker, secure_topic, written)
            [live] = env.sink.glob("*.sink")
            assert wait_for_lines([live], 40) == written

            result = Supervisor(config, http=False, clock=clock).run_once()
            assert result.ok, result.summary()
            metadata = read_metadata(env.sink / f"{secure_topic}-{sink}.topic.json")
            assert metadata.partitions == 1
            assert metadata.groups == {consumer_group(secure_topic, sink): {0: 40}}
            assert [e for e in logs.events() if e["event"].startswith("kafka.")] == []

            held = volume_lock.acquire(config, "this test")  # as a running supervisor does
            status = kcb("status", "--config", str(path), "--json")
            held.release()
            assert status.returncode == 0, status.stdout + status.stderr
            [topic] = json.loads(status.stdout)["topics"]
            assert (topic["topic"], topic["lag_records"]) == (secure_topic, 0)

            # A drill restores the newest 10 records of alpha.0 through the secured broker.
            drill = kcb("drill", "--config", str(path), "--records", "10", "--json")
            assert drill.returncode == 0, drill.stdout + drill.stderr
            [drilled] = json.loads(drill.stdout)["topics"]
            assert (drilled["ok"], drilled["records"], drilled["readBack"]) == (True, 10, 10)
            for text in (status.stdout, status.stderr, drill.stdout, drill.stderr, logs.text):
                assert secure_broker.passwords["backup"] not in text
        finally:
            name = connector_name(secure_topic, sink)
            requests.delete(f"{secure_connect.url}/connectors/{name}", timeout=30)


def kcb(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*KCB, *args], capture_output=True, text=True, timeout=300, check=False)


@pytest.mark.parametrize(
    ("user", "mechanism"),
    [
        ("restore", "SCRAM-SHA-512"),
        ("restore", "SCRAM-SHA-256"),
        ("restore", "PLAIN"),
        ("restore", "OAUTHBEARER"),
        ("restore", "TLS"),
    ],
)
def test_restore_with_command_config_in_each_mechanism_and_exactly_its_acls(
    secure_broker: SecureBroker,
    secure_topic: str,
    grant: Any,
    tmp_path: Path,
    user: str,
    mechanism: str,
) -> None:
    grant(f"User:{user}", specs(restore_acls(secure_topic, "s", runbook=False)))
    values = lines(0, 25)
    files = sink_file_of(tmp_path, secure_topic, "s", values)
    properties = command_config(secure_broker, tmp_path / "client.properties", user, mechanism)
    bootstrap = secure_broker.mtls_bootstrap if mechanism == "TLS" else secure_broker.bootstrap
    run = run_restore(
        secure_topic, bootstrap, str(files), "2026-03-14T12:00:05",
        "--command-config", str(properties), "--yes",
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert values_of(secure_broker, secure_topic) == values[5:]
    assert "delivered 20, failed 0" in run.stdout, run.stdout


def test_the_runbook_with_exactly_the_restore_acls_and_each_one_necessary(
    secure_broker: SecureBroker,
    secure_connect: ConnectWorker,
    secure_topic: str,
    grant: Any,
    tmp_path: Path,
) -> None:
    sink = sink_name()
    sink_path = tmp_path / "sink"
    sink_path.mkdir()
    grant("User:backup", specs(backup_acls([secure_topic], sink, drills=False)))
    config = load_config(
        write_config(
            tmp_path / "config.yaml",
            config_data(
                topics=[secure_topic],
                sink=sink,
                sink_path=sink_path,
                connect_url=secure_connect.url,
                kafka=kafka_block(secure_broker, "backup"),
            ),
        )
    )
    properties = command_config(secure_broker, tmp_path / "restore.properties", "restore")
    args = [
        secure_topic, "--from", "2026-03-14T12:00:10", "--runbook", "--yes", "--force",
        "--command-config", str(properties), "--config", str(tmp_path / "config.yaml"),
        "--state-dir", str(tmp_path / "state"),
    ]  # fmt: skip
    needed = restore_acls(secure_topic, sink)
    try:
        assert Supervisor(config, http=False).run_once().ok
        written = lines(0, 30)
        produce(secure_broker, secure_topic, written)
        [live] = sink_path.glob("*.sink")
        assert wait_for_lines([live], 30) == written

        # Without any one of them: refused before anything changes, the ACL named.
        for missing in needed:
            grant("User:restore", specs([acl for acl in needed if acl != missing]))
            run = run_restore(*args)
            assert run.returncode == 3, run.stdout + run.stderr
            named = f"{missing.operation} on {missing.resource} {missing.name}"
            assert named in run.stderr, (named, run.stderr)
            assert run.stderr.count("\n") == 1 and "Traceback" not in run.stderr
            assert end_offset(secure_broker, secure_topic) == 30
            assert [live.name] == [p.name for p in sink_path.glob("*.sink")]
            secure_broker.revoke("User:restore", specs([a for a in needed if a != missing]))

        grant("User:restore", specs(needed))
        run = run_restore(*args)
        assert run.returncode == 0, run.stdout + run.stderr
        assert values_of(secure_broker, secure_topic) == written[10:]
        # The sink group was reset: Connect rewrote its file from the restored topic.
        assert wait_for_lines([live], 20) == written[10:]
    finally:
        name = connector_name(secure_topic, sink)
        requests.delete(f"{secure_connect.url}/connectors/{name}", timeout=30)


def test_refused_logins_and_handshakes_are_named_and_nothing_is_sent(
    secure_broker: SecureBroker, secure_topic: str, grant: Any, tmp_path: Path
) -> None:
    grant("User:restore", specs(restore_acls(secure_topic, "s", runbook=False)))
    files = sink_file_of(tmp_path, secure_topic, "s", lines(0, 5))
    host, port = secure_broker.bootstrap.rsplit(":", 1)
    good = command_config(secure_broker, tmp_path / "good.properties", "restore")
    foreign = tmp_path / "foreign.properties"
    keystore = foreign.with_suffix(".pem")
    keystore.write_bytes(
        secure_broker.foreign_cert.key.read_bytes() + secure_broker.foreign_cert.cert.read_bytes()
    )
    foreign.write_text(
        "security.protocol=SSL\nssl.keystore.type=PEM\n"
        f"ssl.keystore.location={keystore}\nssl.truststore.type=PEM\n"
        f"ssl.truststore.location={secure_broker.ca_cert}\n"
    )
    cases = {
        "wrong password": (
            secure_broker.bootstrap,
            command_config(secure_broker, tmp_path / "pw.properties", "restore", password="nope"),
            (
                f"restore.py: error: Kafka at {secure_broker.bootstrap} refused the credentials of "
                "user restore (SCRAM-SHA-512 over TLS): check the password of user restore in "
                "--command-config"
            ),
        ),
        "unknown CA": (
            secure_broker.bootstrap,
            command_config(
                secure_broker,
                tmp_path / "ca.properties",
                "restore",
                **{"ssl.truststore.location": str(secure_broker.other_ca_cert)},
            ),
            (
                f"restore.py: error: the certificate of Kafka at {secure_broker.bootstrap} is not "
                f"signed by a trusted CA ({secure_broker.other_ca_cert}): add the cluster's CA "
                "certificate to kafka.tls.trustedCertificates"
            ),
        ),
        "host name": (
            f"localhost:{port}",
            good,
            (
                f"restore.py: error: the certificate of Kafka at localhost:{port} does not name "
                "that host: connect through a name or address in the certificate's "
                "subjectAltName"
            ),
        ),
        "no ACL": (
            secure_broker.bootstrap,
            command_config(secure_broker, tmp_path / "nobody.properties", "nobody"),
            (
                f"restore.py: error: Kafka at {secure_broker.bootstrap} does not allow user nobody "
                f"(SCRAM-SHA-512 over TLS) Describe on topic {secure_topic}; Write on topic "
                f"{secure_topic}: grant it, e.g. kafka-acls --bootstrap-server "
                f"{secure_broker.bootstrap} --add --allow-principal User:nobody --operation "
                f"Describe --topic {secure_topic}"
            ),
        ),
        "plaintext": (
            secure_broker.bootstrap,
            None,
            (
                f"restore.py: error: Kafka at {secure_broker.bootstrap} requires TLS and this "
                "client does not use it: set kafka.tls (and kafka.authentication) in the values, "
                "or security.protocol SSL / SASL_SSL in --command-config"
            ),
        ),
        "foreign client certificate": (
            secure_broker.mtls_bootstrap,
            foreign,
            (
                f"restore.py: error: Kafka at {secure_broker.mtls_bootstrap} refused the TLS "
                f"handshake of the TLS client certificate {foreign.with_suffix('.pem')}: it may "
                "require a client certificate (kafka.authentication type tls) signed by a CA it "
                "trusts"
            ),
        ),
    }
    assert host == "127.0.0.1"
    for case, (bootstrap, properties, message) in cases.items():
        option = ["--command-config", str(properties)] if properties else []
        run = run_restore(secure_topic, bootstrap, str(files), "2026-01-01", "--yes", *option)
        assert run.returncode == 3, (case, run.stdout + run.stderr)
        assert run.stderr.startswith(message), (case, run.stderr)
        assert run.stderr.rstrip("\n").endswith("nothing was sent"), (case, run.stderr)
        assert run.stderr.count("\n") == 1, (case, run.stderr)
        assert end_offset(secure_broker, secure_topic) == 0, case


def test_the_supervisor_reports_each_kafka_outage_once_by_cause(
    secure_broker: SecureBroker,
    secure_connect: ConnectWorker,
    secure_topic: str,
    grant: Any,
    tmp_path: Path,
) -> None:
    sink = sink_name()
    acls = backup_acls([secure_topic], sink, drills=False)
    describe_configs = next(a for a in acls if a.operation == "DescribeConfigs")
    grant("User:backup", specs([a for a in acls if a != describe_configs]))
    password = tmp_path / "password"
    password.write_text("not-the-password")
    logs = LogCapture()
    metrics = Metrics()
    with storage_env(tmp_path) as env:
        config = load_config(
            write_config(
                tmp_path / "config.yaml",
                config_data(
                    topics=[secure_topic],
                    sink=sink,
                    sink_path=env.sink,
                    connect_url=secure_connect.url,
                    backup=env.backup(engine="gocryptfs"),
                    kafka=kafka_block(secure_broker, "backup", password),
                ),
            )
        )
        supervisor = Supervisor(config, http=False, metrics=metrics)
        try:
            # The backup goes on (the records are the backup); the metadata waits for Kafka.
            for _ in range(2):
                assert supervisor.run_once().ok
            [refused] = logs.events("kafka.unavailable")
            assert refused["cause"] == "kafka_auth" and refused["step"] == "record_offsets"
            assert refused["error"].startswith(
                f"Kafka at {secure_broker.bootstrap} refused the credentials of user backup "
                f"(SCRAM-SHA-512 over TLS): check the password in {password} "
                "(kafka.authentication.passwordSecret) and that user backup exists for "
                "SCRAM-SHA-512"
            ), refused["error"]
            text = metrics.render().decode()
            assert 'kcb_failures_total{cause="kafka_auth",step="record_offsets"} 1.0' in text

            # The right password, one ACL short: a new outage, named by the missing ACL.
            password.write_text(secure_broker.passwords["backup"])
            assert supervisor.run_once().ok
            denied = logs.events("kafka.unavailable")[-1]
            assert denied["cause"] == "kafka_acl", denied
            assert f"DescribeConfigs on topic {secure_topic}" in denied["error"], denied
            text = metrics.render().decode()
            assert 'kcb_failures_total{cause="kafka_acl",step="record_offsets"} 1.0' in text

            grant("User:backup", specs([describe_configs]))
            assert supervisor.run_once().ok
            assert [e["after"] for e in logs.events("kafka.available")] == ["kafka_acl"]
            assert len(logs.events("kafka.unavailable")) == 2
            metadata = read_metadata(env.sink / f"{secure_topic}-{sink}.topic.json")
            assert metadata.partitions == 1
            assert secure_broker.passwords["backup"] not in logs.text
        finally:
            name = connector_name(secure_topic, sink)
            requests.delete(f"{secure_connect.url}/connectors/{name}", timeout=30)


def test_each_drill_acl_is_necessary_and_named(
    secure_broker: SecureBroker, secure_topic: str, grant: Any, tmp_path: Path
) -> None:
    sink = sink_name()
    alpha = tmp_path / "snapshots" / "alpha.0" / "localhost"
    alpha.mkdir(parents=True)
    sink_file_of(alpha, secure_topic, sink, lines(0, 10))
    path = write_config(
        tmp_path / "config.yaml",
        config_data(
            topics=[secure_topic],
            sink=sink,
            sink_path=tmp_path / "sink",
            connect_url="http://127.0.0.1:9",
            kafka=kafka_block(secure_broker, "backup"),
        ),
    )
    acls = backup_acls([secure_topic], sink)
    drill = ["drill", "--config", str(path), "--snapshot-root", str(alpha.parents[1]), "--json"]
    for missing in [acl for acl in acls if acl.prefixed]:
        grant("User:backup", specs([acl for acl in acls if acl != missing]))
        run = kcb(*drill)
        assert run.returncode == 1 and "Traceback" not in run.stderr, (missing, run.stderr)
        [failed] = json.loads(run.stdout)["topics"]
        named = f"does not allow user backup (SCRAM-SHA-512 over TLS) {missing.operation} on topic"
        assert named in failed["error"], (missing, failed["error"])
        assert "kcb-drill-" in failed["error"], failed["error"]
        secure_broker.revoke("User:backup", specs([acl for acl in acls if acl != missing]))
        admin = secure_broker.admin()  # kept: a collected client cancels its futures
        for leftover in admin.list_topics(timeout=10).topics:
            if leftover.startswith("kcb-drill-"):  # the Delete case leaves its scratch topic
                admin.delete_topics([leftover])[leftover].result(30)
    grant("User:backup", specs(acls))
    run = kcb(*drill)
    assert run.returncode == 0, run.stdout + run.stderr
