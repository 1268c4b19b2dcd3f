"""A bad value fails `helm template`/`helm install` with a message naming the key: from
values.schema.json, and from the templates when the schema is skipped."""

from __future__ import annotations

from typing import Any

import pytest

from chart.helm_chart import MINIMAL_VALUES, Helm, HelmError

pytestmark = pytest.mark.chart

BACKUP = {"backup.enabled": True, "targetPvcName": "backup-nfs"}
SCRAM = {
    "kafka.authentication.type": "scram-sha-512",
    "kafka.authentication.username": "backup",
    "kafka.authentication.passwordSecret.secretName": "backup",
    "kafka.authentication.passwordSecret.password": "password",
}

CASES: list[tuple[str, dict[str, Any], str, str]] = [
    ("replicas", {"replicaCount": 2}, "at '/replicaCount'", "replicaCount: must be 0 or 1"),
    ("duration", {"restartTimeout": "23 hours"}, "at '/restartTimeout'", "restartTimeout:"),
    (
        "no topic",
        {"topic": "", "topicList": "", "topics": []},
        "at '/topics': minItems",
        "topics: at least one topic is required",
    ),
    (
        "no password",
        BACKUP,
        "at '/backup/encryption/existingSecret': minLength",
        "backup.enabled: a backup needs an encryption password and there is no default",
    ),
    (
        "no target",
        {"backup.enabled": True, "encryptPassword": "s3cret"},
        "at '/targetPvcName': minLength",
        "backup.enabled: a backup needs a target",
    ),
    (
        "unknown authentication type",
        {"kafka.authentication.type": "gssapi"},
        "at '/kafka/authentication/type': value must be one of",
        'kafka.authentication.type: "gssapi" is not a type',
    ),
    (
        "SASL without a password Secret",
        {**SCRAM, "kafka.authentication.passwordSecret.secretName": ""},
        "at '/kafka/authentication/passwordSecret/secretName': minLength",
        "kafka.authentication.passwordSecret.secretName: type scram-sha-512 needs the Secret",
    ),
    (
        "mutual TLS without TLS",
        {
            "kafka.authentication.type": "tls",
            "kafka.authentication.certificateAndKey": {
                "secretName": "backup",
                "certificate": "user.crt",
                "key": "user.key",
            },
        },
        "at '/kafka/tls/enabled': value must be true",
        "kafka.authentication.type tls needs kafka.tls.enabled: true",
    ),
    (
        "a username breaking the JAAS string",
        {**SCRAM, "kafka.authentication.username": 'backup" password="x'},
        "at '/kafka/authentication/username'",
        "kafka.authentication.username:",
    ),
]


@pytest.mark.parametrize(("name", "values", "schema_message", "guard_message"), CASES)
def test_bad_values_fail_naming_the_key(
    helm: Helm, name: str, values: dict[str, Any], schema_message: str, guard_message: str
) -> None:
    with pytest.raises(HelmError) as schema_error:
        helm.template([MINIMAL_VALUES], set_values=values)
    assert "values don't meet the specifications of the schema" in schema_error.value.stderr
    assert schema_message in schema_error.value.stderr
    with pytest.raises(HelmError) as guard_error:
        helm.template([MINIMAL_VALUES], set_values=values, extra=("--skip-schema-validation",))
    assert guard_message in guard_error.value.stderr


def test_there_is_no_default_password(helm: Helm) -> None:
    with pytest.raises(HelmError):
        helm.template([MINIMAL_VALUES], set_values=BACKUP)
    secret_docs = [
        m
        for m in helm.template([MINIMAL_VALUES], set_values={**BACKUP, "encryptPassword": "s3cret"})
        if m["kind"] == "Secret"
    ]
    assert len(secret_docs) == 1
