"""kafka.tls and kafka.authentication, across the whole render: every credential file the
supervisor config and Connect's worker.properties name is exactly one key of the Secret the
values name, mounted read-only by the `kafka-credentials` volume in both containers (and
nothing else is mounted there); Connect reads the same files through references its
DirectoryConfigProvider may resolve; no credential travels any other way; and a changed
setting rolls the pod."""

from __future__ import annotations

import posixpath
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from chart.helm_chart import (
    CHART,
    MINIMAL_VALUES,
    RELEASE,
    Helm,
    container,
    find,
    mounts_of,
    supervisor_config_document,
    volume,
    worker_properties,
)
from kafka_connect_backup.config import parse_config

pytestmark = pytest.mark.chart

CREDENTIALS_DIR = "/etc/kcb/kafka"
OAUTH: dict[str, Any] = {
    "kafka.tls.enabled": True,
    "kafka.authentication.type": "oauth",
    "kafka.authentication.tokenEndpointUri": "https://sso.example.com/realms/kafka/token",
    "kafka.authentication.clientId": "kafka-backup",
    "kafka.authentication.clientSecret.secretName": "backup-oauth",
    "kafka.authentication.clientSecret.key": "client-secret",
    "kafka.authentication.scope": "kafka",
}
PLAIN: dict[str, Any] = {
    "kafka.authentication.type": "plain",
    "kafka.authentication.username": "$ConnectionString",
    "kafka.authentication.passwordSecret.secretName": "event-hubs",
    "kafka.authentication.passwordSecret.password": "connection-string",
}
# name -> (values files, --set values)
SECURED: dict[str, tuple[list[Path], dict[str, Any]]] = {
    "scram-sha-512+tls": ([CHART / "ci" / "kafka-scram-tls-values.yaml"], {}),
    "tls+two-cas": ([CHART / "ci" / "kafka-mtls-values.yaml"], {}),
    "oauth+tls": ([MINIMAL_VALUES], OAUTH),
    "plain": ([MINIMAL_VALUES], PLAIN),
}
# The supervisor config's keys holding a credential file, and where the values name its Secret.
AUTH_FILES = {
    "passwordFile": ("passwordSecret", "password"),
    "certificateFile": ("certificateAndKey", "certificate"),
    "keyFile": ("certificateAndKey", "key"),
    "clientSecretFile": ("clientSecret", "key"),
}
CA = {"secretName": "my-cluster-cluster-ca-cert", "certificate": "ca.crt"}
REFERENCE = re.compile(r"\$\{directory:([^}:]+):([^}:]+)\}")


def mounted_files(deployment: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Path in the containers -> (Secret, key) of every file of the kafka-credentials volume."""
    projected = volume(deployment, "kafka-credentials")["projected"]
    files: dict[str, tuple[str, str]] = {}
    for source in projected["sources"]:
        secret = source["secret"]
        for item in secret["items"]:
            path = posixpath.join(CREDENTIALS_DIR, item["path"])
            assert path not in files, f"{path} mounted twice"
            files[path] = (secret["name"], item["key"])
    return files


def expected_files(document: dict[str, Any], values: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Path -> (Secret, key) as the rendered supervisor config and the values say."""
    kafka = document["kafka"]
    files: dict[str, tuple[str, str]] = {}
    trusted = kafka.get("tls", {}).get("trustedCertificateFiles", [])
    certificates = values.get("trustedCertificates", [])
    assert len(trusted) == len(certificates)
    for path, certificate in zip(trusted, certificates, strict=True):
        files[path] = (certificate["secretName"], certificate["certificate"])
    authentication = kafka.get("authentication", {})
    for key, (block, field) in AUTH_FILES.items():
        if key in authentication:
            source = values["authentication"][block]
            files[authentication[key]] = (source["secretName"], source[field])
    return files


def values_of(files: list[Path], set_values: dict[str, Any]) -> dict[str, Any]:
    """The kafka.tls / kafka.authentication values of one render (values files, then --set)."""
    kafka: dict[str, Any] = {"tls": {}, "authentication": {}}
    for path in files:
        document = yaml.safe_load(path.read_text()) or {}
        for block in ("tls", "authentication"):
            kafka[block].update(document.get("kafka", {}).get(block, {}))
    for dotted, value in set_values.items():
        node = kafka
        *parents, leaf = dotted.split(".")[1:]
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return {"trustedCertificates": kafka["tls"].get("trustedCertificates", []), **kafka}


@pytest.fixture(scope="module", params=sorted(SECURED))
def secured(
    request: pytest.FixtureRequest, helm: Helm
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    files, set_values = SECURED[request.param]
    return values_of(files, set_values), helm.template(files, set_values=set_values)


def test_each_credential_file_is_its_secret_key_mounted_read_only_in_both_containers(
    secured: Any,
) -> None:
    values, manifests = secured
    deployment = find(manifests, "Deployment", RELEASE)
    document = supervisor_config_document(manifests)
    expected = expected_files(document, values)
    assert expected, "a secured render names credential files"
    # Exactly the files the config names are mounted, each from the Secret key the values name.
    assert mounted_files(deployment) == expected
    for name in ("connect", "supervisor"):
        mounts = container(deployment, name)["volumeMounts"]
        (mount,) = [m for m in mounts if m["name"] == "kafka-credentials"]
        assert mount == {
            "name": "kafka-credentials",
            "mountPath": CREDENTIALS_DIR,
            "readOnly": True,
        }
        # The deepest mount above each file is this volume (nothing shadows it).
        for path in expected:
            holders = [
                p for p in mounts_of(deployment, name) if path.startswith(p.rstrip("/") + "/")
            ]
            assert mounts_of(deployment, name)[max(holders, key=len)] == "kafka-credentials"


def test_connect_reads_the_same_files_through_its_directory_provider(secured: Any) -> None:
    _, manifests = secured
    deployment = find(manifests, "Deployment", RELEASE)
    worker = worker_properties(manifests)
    referenced = {
        posixpath.join(directory, name)
        for value in worker.values()
        for directory, name in REFERENCE.findall(value)
    }
    # Connect reads every mounted file, and nothing else (allowed.paths bounds it).
    assert referenced == set(mounted_files(deployment))
    assert worker["config.providers"].split(",")[0] == "directory"
    assert worker["config.providers.directory.class"] == (
        "org.apache.kafka.common.config.provider.DirectoryConfigProvider"
    )
    assert worker["config.providers.directory.param.allowed.paths"] == CREDENTIALS_DIR
    # The worker and each client Connect makes get the same settings.
    security = {k: v for k, v in worker.items() if k.startswith(("security.", "sasl.", "ssl."))}
    assert security["security.protocol"] in {"SSL", "SASL_SSL", "SASL_PLAINTEXT"}
    for prefix in ("consumer.", "admin.", "producer."):
        assert {k: worker[prefix + k] for k in security} == security


def test_no_credential_travels_by_environment_or_argument(secured: Any) -> None:
    _, manifests = secured
    deployment = find(manifests, "Deployment", RELEASE)
    spec = deployment["spec"]["template"]["spec"]
    for c in spec["containers"] + spec["initContainers"]:
        for variable in c.get("env", []):
            assert "valueFrom" not in variable, f"{c['name']}: {variable['name']} from a Secret"
            # The only variable the security block adds: the token endpoint Connect may call.
            if variable["name"] == "JDK_JAVA_OPTIONS":
                assert c["name"] == "connect"
                assert variable["value"] == (
                    "-Dorg.apache.kafka.sasl.oauthbearer.allowed.urls="
                    + OAUTH["kafka.authentication.tokenEndpointUri"]
                )
        assert not [a for a in c.get("args", []) if CREDENTIALS_DIR in str(a)]
    # Without a backup, the Kafka credentials are the pod's only Secret volume.
    secret_volumes = [v["name"] for v in spec["volumes"] if "secret" in v or "projected" in v]
    assert secret_volumes == ["kafka-credentials"]


def test_a_changed_kafka_setting_rolls_the_pod(helm: Helm) -> None:
    """Paths, names and mechanisms are in the ConfigMaps (the checksum annotation); the Secrets'
    names and keys are in the pod template itself. A Secret's content is not: Connect and the
    supervisor read it at start, so a rotated password needs a restart (README)."""
    files, base = SECURED["scram-sha-512+tls"]

    def pod_template(**set_values: Any) -> dict[str, Any]:
        manifests = helm.template(files, set_values={**base, **set_values})
        template: dict[str, Any] = find(manifests, "Deployment", RELEASE)["spec"]["template"]
        return template

    def checksum(template: dict[str, Any]) -> str:
        return str(template["metadata"]["annotations"]["checksum/config"])

    first = pod_template()
    assert pod_template() == first
    for change in (
        {"kafka.authentication.username": "backup2"},
        {"kafka.authentication.type": "scram-sha-256"},
        {
            "kafka.tls.trustedCertificates": [
                CA,
                {"secretName": "corporate-ca", "certificate": "ca.crt"},
            ]
        },
    ):
        assert checksum(pod_template(**change)) != checksum(first), change
    for change in (
        {"kafka.authentication.passwordSecret.secretName": "backup-rotated"},
        {"kafka.authentication.passwordSecret.password": "new-password"},
        {"kafka.tls.trustedCertificates": [{"secretName": "other-ca", "certificate": "ca.crt"}]},
    ):
        changed = pod_template(**change)
        assert changed != first and changed["spec"]["volumes"] != first["spec"]["volumes"], change


@pytest.mark.parametrize(
    "set_values",
    [
        {**PLAIN, "kafka.authentication.username": "a.b_c-d~e@f+g:h/i$j%k"},
        {
            **OAUTH,
            "kafka.authentication.clientId": "svc-account@example.com:kafka/backup$1%2",
            "kafka.authentication.scope": "api://kafka/.default ! #$&()*+,-./09:<>?@AZ[]^_`az|~",
            "kafka.authentication.tokenEndpointUri": (
                "https://[fd00::1]:8443/realms/a~b/token?x=1&y=%20!*+@-_."
            ),
        },
    ],
    ids=["username", "oauth"],
)
def test_the_widest_values_the_chart_accepts_load_in_the_supervisor(
    helm: Helm, set_values: dict[str, Any]
) -> None:
    """Whatever passes the chart's checks must pass the supervisor's (no pod crash-looping on a
    config helm accepted), with the same meaning."""
    manifests = helm.template([MINIMAL_VALUES], set_values=set_values)
    config = parse_config(supervisor_config_document(manifests), "rendered config.yaml")
    authentication = config.kafka.authentication
    assert authentication is not None
    assert authentication.type == set_values["kafka.authentication.type"]
    for key, attribute in (
        ("username", "username"),
        ("clientId", "client_id"),
        ("scope", "scope"),
        ("tokenEndpointUri", "token_endpoint_uri"),
    ):
        if f"kafka.authentication.{key}" in set_values:
            assert getattr(authentication, attribute) == set_values[f"kafka.authentication.{key}"]
