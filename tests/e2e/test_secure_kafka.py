"""A release against a secured Kafka, set up as a Strimzi user does it: the cluster's CA and the
SCRAM-SHA-512 user's password in Secrets of the release's namespace, `kafka.tls` and
`kafka.authentication` pointing at them, and the user granted exactly the ACLs the chart
README lists. The broker (SecureBroker) accepts only TLS + SASL or mutual TLS, and nothing
without an ACL. A cycle records the sink group's offsets, `kcb status` reads the lag, and
`kubectl exec restore.py --runbook` restores with the pod's own credentials; no password is in
any ConfigMap, pod spec, environment or log."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from confluent_kafka.admin import AclOperation, ResourcePatternType, ResourceType

from e2e.release import Release
from e2e.scenario import BASE_TIME, PASSWORD, records, wait_for_sink
from kafka_helpers import consume_all, end_offsets, produce_json
from kafka_stack import AclSpec, SecureBroker
from kube_cluster import KubeCluster

# The first e2e test also builds the images and starts the cluster (minutes when cold).
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1500)]

TOPIC = "e2e-secure-orders"
SINK = "file-sink"
GROUP = f"connect-{TOPIC}-{SINK}"
USER = "backup"
CA_SECRET = "my-cluster-cluster-ca-cert"  # the names Strimzi gives them
USER_SECRET = USER
ENCRYPTION_SECRET = "kafka-backup-password"
COUNT = 100

_LITERAL = ResourcePatternType.LITERAL
# What the chart README's "Kafka ACLs" lists. The backup principal: Connect's sink reads the
# topic in its group; the supervisor describes the topic and its configs, and reads the sink
# group's committed offsets (Read implies Describe; listed as the README lists it).
BACKUP_ACLS: list[AclSpec] = [
    (ResourceType.TOPIC, TOPIC, _LITERAL, AclOperation.READ),
    (ResourceType.GROUP, GROUP, _LITERAL, AclOperation.READ),
    (ResourceType.TOPIC, TOPIC, _LITERAL, AclOperation.DESCRIBE),
    (ResourceType.TOPIC, TOPIC, _LITERAL, AclOperation.DESCRIBE_CONFIGS),
    (ResourceType.GROUP, GROUP, _LITERAL, AclOperation.DESCRIBE),
]
# The restore principal (here the same user: `kubectl exec restore.py` uses the release's
# credentials unless given --command-config): the runbook deletes and re-creates the topic with
# its configs, replays into it, and resets the sink group.
RESTORE_ACLS: list[AclSpec] = [
    (ResourceType.TOPIC, TOPIC, _LITERAL, AclOperation.WRITE),
    (ResourceType.TOPIC, TOPIC, _LITERAL, AclOperation.DELETE),
    (ResourceType.TOPIC, TOPIC, _LITERAL, AclOperation.CREATE),
    (ResourceType.TOPIC, TOPIC, _LITERAL, AclOperation.DESCRIBE_CONFIGS),
    (ResourceType.TOPIC, TOPIC, _LITERAL, AclOperation.READ),
    (ResourceType.GROUP, GROUP, _LITERAL, AclOperation.READ),
]


@pytest.fixture(scope="module")
def secured(
    kube_cluster: KubeCluster,
    cluster_images: dict[str, str],
    secure_pod_broker: SecureBroker,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Release]:
    """One release on the secured broker for the whole module, installed as a user would."""
    broker = secure_pod_broker
    release = Release(
        kube_cluster,
        broker,
        cluster_images,
        namespace=f"e2e-secure-{os.getpid() % 10000}",
        volumes=tmp_path_factory.mktemp("secure-release"),
    )
    release.create_namespace()
    try:
        _install(release, broker)
        yield release
    finally:
        release.delete()


@pytest.fixture(autouse=True)
def _logs_on_failure(request: pytest.FixtureRequest, secured: Release) -> Iterator[None]:
    yield
    secured.dump_logs_on_failure(request)


def _install(release: Release, broker: SecureBroker) -> None:
    release.data_volume()
    release.target_claim("kafka-backup-nfs")
    release.password_secret(ENCRYPTION_SECRET, PASSWORD)
    # The Secrets Strimzi makes: the cluster CA's certificate, and the KafkaUser's password
    # (the broker's password file has no final newline, as Strimzi's Secret has none).
    release.kubectl(
        "create", "secret", "generic", CA_SECRET, f"--from-file=ca.crt={broker.ca_cert}"
    )
    release.kubectl(
        "create", "secret", "generic", USER_SECRET,
        f"--from-file=password={broker.password_file(USER)}",
    )  # fmt: skip
    broker.create_topic(TOPIC)
    broker.grant(f"User:{USER}", sorted(set(BACKUP_ACLS + RESTORE_ACLS), key=str))
    values = {
        "topicList": TOPIC,
        "sinkName": SINK,
        "kafka": {
            "tls": {
                "enabled": True,
                "trustedCertificates": [{"secretName": CA_SECRET, "certificate": "ca.crt"}],
            },
            "authentication": {
                "type": "scram-sha-512",
                "username": USER,
                "passwordSecret": {"secretName": USER_SECRET, "password": "password"},
            },
        },
        "backup": {
            "enabled": True,
            "retention": 3,
            "encryption": {"existingSecret": ENCRYPTION_SECRET},
        },
        "targetPvcName": "kafka-backup-nfs",
    }
    release.install(values)  # kafka.bootstrapServers: the broker's SASL_SSL listener
    release.wait_ready()


def _produce(broker: SecureBroker, prefix: str, count: int) -> list[str]:
    admin = broker.client_settings("admin")
    return produce_json(broker.bootstrap, TOPIC, records(prefix, count, BASE_TIME), settings=admin)


def _values(broker: SecureBroker, expected: int) -> list[str]:
    admin = broker.client_settings("admin")
    found = consume_all(broker.bootstrap, TOPIC, expected, settings=admin)
    return [(value or b"").decode() for _, value in found]


def _end_offset(broker: SecureBroker) -> int:
    [offset] = end_offsets(broker.admin(), TOPIC, 1)
    return int(offset)


def test_cycle_status_and_runbook_restore_with_the_pods_own_credentials(
    secured: Release,
) -> None:
    broker = secured.broker
    assert isinstance(broker, SecureBroker)
    sink_dir = secured.volumes / "data" / "filesink"

    sent = _produce(broker, "s", COUNT)  # utcTime BASE_TIME + 0..99 s
    assert wait_for_sink(sink_dir, TOPIC, SINK, COUNT) == sent

    cycle = json.loads(secured.exec("kcb", "backup-now", "--json").stdout)
    assert cycle["ok"] is True, cycle
    # The cycle read the topic and its sink group's offsets as User:backup.
    metadata = json.loads((sink_dir / f"{TOPIC}-{SINK}.topic.json").read_text())
    assert metadata["topic"] == TOPIC
    assert (metadata["partitions"], metadata["replicationFactor"]) == (1, 1)
    assert metadata["configs"] == {}
    assert metadata["groups"] == {GROUP: {"0": COUNT}}

    state = secured.kcb_json("status")
    assert state["healthy"] is True and state["lastCycleOk"] is True, state
    [topic] = state["topics"]
    assert topic["topic"] == TOPIC and topic["lag_records"] == 0, topic

    # The runbook from BASE_TIME + 40 s, with the credentials mounted in the pod.
    since = (BASE_TIME + timedelta(seconds=40)).isoformat()
    secured.exec("restore.py", TOPIC, "--from", since, "--runbook", "--yes", "--force")
    kept = sent[40:]
    assert _values(broker, len(kept)) == kept
    assert _end_offset(broker) == len(kept)
    # Connect, reset to the start of the re-created topic, rewrote its sink file from it.
    assert wait_for_sink(sink_dir, TOPIC, SINK, len(kept)) == kept

    # Exactly these ACLs were enough: nothing was refused along the way.
    assert [e for e in secured.log_events() if e.get("level") == "error"] == []
    connect_log = secured.logs("connect")
    assert "Connect" in connect_log
    refusals = [line for line in connect_log.splitlines() if "uthoriz" in line]
    assert refusals == []

    _no_password_shown(secured, broker.passwords[USER])


def _no_password_shown(release: Release, kafka_password: str) -> None:
    """Neither the Kafka user's password nor the encryption password (nor their base64) is in
    the namespace's ConfigMaps and pods, any container's environment or arguments, the logs
    of every container, or the environment a `kubectl exec` sees."""
    # The check looks for the right strings: the Secret is what the pod mounted.
    mounted = release.exec("cat", "/etc/kcb/kafka/auth/password").stdout
    assert mounted == kafka_password
    secrets = [kafka_password, PASSWORD]
    forms = [s for secret in secrets for s in (secret, base64.b64encode(secret.encode()).decode())]

    shown: dict[str, str] = {
        "kubectl get cm,pod -o yaml": release.kubectl("get", "cm,pod", "-o", "yaml").stdout
    }
    [pod] = release.pods()
    containers: list[dict[str, Any]] = [
        *pod["spec"].get("initContainers", []),
        *pod["spec"]["containers"],
    ]
    assert {"connect", "supervisor"} <= {c["name"] for c in containers}
    for container in containers:
        name = container["name"]
        shown[f"{name}: env, envFrom, command, args"] = json.dumps(
            [container.get(key) for key in ("env", "envFrom", "command", "args")]
        )
        shown[f"kubectl logs -c {name}"] = release.kubectl(
            "logs", pod["metadata"]["name"], "-c", name
        ).stdout
    for name in ("connect", "supervisor"):
        shown[f"kubectl exec -c {name} -- env"] = release.exec("env", container=name).stdout
    assert shown["kubectl logs -c supervisor"]  # the logs were read, not empty
    leaks = [where for where, text in shown.items() for form in forms if form in text]
    assert leaks == []


def test_restore_with_a_wrong_password_in_command_config_sends_nothing(
    secured: Release,
) -> None:
    broker = secured.broker
    assert isinstance(broker, SecureBroker)
    before = _end_offset(broker)
    jaas = (
        "org.apache.kafka.common.security.scram.ScramLoginModule required"
        f' username="{USER}" password="not-the-password";'
    )
    properties = (
        "security.protocol=SASL_SSL\n"
        "sasl.mechanism=SCRAM-SHA-512\n"
        f"sasl.jaas.config={jaas}\n"
        "ssl.truststore.type=PEM\n"
        "ssl.truststore.location=/etc/kcb/kafka/trusted/0/ca.crt\n"
    )
    wrong = "/tmp/wrong-password.properties"  # in the pod
    secured.exec("sh", "-c", f"cat > {wrong}", input=properties)

    files = f"/data/filesink/{TOPIC}-{SINK}-*.sink"
    sink_files = sorted(p.name for p in (secured.volumes / "data" / "filesink").iterdir())
    since = BASE_TIME.isoformat()
    base = ["restore.py", TOPIC, "--from", since, "--yes", "--command-config", wrong]
    for command in ([*base, "--files", files], [*base, "--runbook", "--force"]):
        run = secured.exec(*command, check=False)
        assert run.returncode == 3, (command, run.stdout, run.stderr)
        assert run.stdout == "", (command, run.stdout)
        # Less kubectl's own last line ("command terminated with exit code 3").
        lines = run.stderr.splitlines()
        assert lines[-1] == "command terminated with exit code 3", (command, lines)
        assert len(lines) == 2, (command, lines)
        line = lines[0]
        assert "refused the credentials of user backup (SCRAM-SHA-512 over TLS)" in line, line
        assert "nothing was sent" in line, line
    # Nothing changed: no record sent, no sink file set aside, the connector still running.
    assert sorted(p.name for p in (secured.volumes / "data" / "filesink").iterdir()) == sink_files
    assert _end_offset(broker) == before
    assert _connector_state(secured) == "RUNNING"


def _connector_state(release: Release) -> str:
    """The sink connector's state, asked from inside the pod (REST is on 127.0.0.1 only)."""
    script = (
        "import json,urllib.request;print(json.load(urllib.request.urlopen("
        f"'http://127.0.0.1:8083/connectors/{TOPIC}-{SINK}/status'))['connector']['state'])"
    )
    return release.exec("python3", "-c", script).stdout.strip()
