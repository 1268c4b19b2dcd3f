"""A bad value fails `helm template`/`helm install` with a message naming the key: from
values.schema.json, and from the templates when the schema is skipped."""

from __future__ import annotations

from pathlib import Path
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
        "a server without a port",
        {"kafka.bootstrapServers": "kafka-0.kafka:9093,kafka-1.kafka"},
        "at '/kafka/bootstrapServers': 'kafka-0.kafka:9093,kafka-1.kafka' does not match",
        (
            'kafka.bootstrapServers: "kafka-1.kafka" is not host:port: write each server with its '
            "port, e.g. kafka-1.kafka:9092 (Connect's worker refuses a host alone)"
        ),
    ),
    (
        "a newline in the servers (a second worker property)",
        {"kafka.bootstrapServers": "kafka:9092\nlisteners=http://0.0.0.0:1"},
        "at '/kafka/bootstrapServers': 'kafka:9092\\nlisteners=http://0.0.0.0:1' does not match",
        (
            'kafka.bootstrapServers: "kafka:9092\\nlisteners=http://0.0.0.0:1" must not contain '
            "control characters (newline, tab, ...)"
        ),
    ),
    (
        "a server URL",
        {"kafka.bootstrapServers": "http://kafka:9092"},
        "at '/kafka/bootstrapServers': 'http://kafka:9092' does not match",
        'kafka.bootstrapServers: "http://kafka:9092" is a URL: give host:port, no scheme',
    ),
    (
        "a reconcile interval that never comes",
        {"supervisor.reconcileIntervalSeconds": 1e9},
        "at '/supervisor/reconcileIntervalSeconds': maximum",
        "supervisor.reconcileIntervalSeconds: 1e+09 must be a number above 0 and at most 300",
    ),
    (
        "a restart timeout of centuries, as a number",
        {"restartTimeout": 99999999},
        "at '/restartTimeout'",
        # (--set-json gives a float: the template's form of it is refused on its own)
        'restartTimeout: "9.9999999e+07" is not a duration',
    ),
    (
        "a keep level that is no level",
        {"restartTimeout": "15m", "backup.keep": {"hourly": 24, "yearly": 2}},
        "at '/backup/keep': additional properties 'yearly' not allowed",
        'backup.keep.yearly: unknown level "yearly": use any of hourly, daily, weekly, monthly',
    ),
    (
        "a keep count of none",
        {"restartTimeout": "15m", "backup.keep": {"hourly": 0}},
        "at '/backup/keep/hourly': minimum",
        "backup.keep.hourly: 0 must be a whole number from 1 to 1000",
    ),
    (
        "a keepAt that is no time of day (a second line in the config)",
        {"backup.keepAt": "00:00\nretention: 1"},
        "at '/backup/keepAt'",
        (
            'backup.keepAt: "00:00\\nretention: 1" is not a time of day: write HH:MM (UTC), '
            "e.g. 00:00 or 03:30"
        ),
    ),
    (
        "a recovery point bound that is no duration",
        {"metrics.prometheusRule.recoveryPointMaxAge": "soon"},
        "at '/metrics/prometheusRule/recoveryPointMaxAge'",
        'metrics.prometheusRule.recoveryPointMaxAge: "soon" is not a duration',
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


LONG = "t" * 197  # .{file}.kcb-tmp: 1 + 197 + 1 + 22 + 1 + 7 + 5 + 14 + 8 = 256 bytes
ENCFS_LONG = "t" * 111  # .kcb-copy-{file}.part, daily envelope: 10 + 173 + 5 = 188 bytes


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"restartTimeout": "99999999999999d"},
            'restartTimeout: "99999999999999d" is longer than 366d: use at most 366d',
        ),
        (
            {"backup.keep": {"hourly": 24, "daily": 7}},
            (
                "backup.keep.hourly needs restartTimeout of at most 1h (it is 23h): lower "
                "restartTimeout or remove backup.keep.hourly"
            ),
        ),
        (
            {"restartTimeout": "2d", "backup.keep": {"daily": 7, "weekly": 4}},
            (
                "backup.keep.daily needs restartTimeout of at most 1d (it is 2d): lower "
                "restartTimeout or remove backup.keep.daily"
            ),
        ),
        (
            {"restartTimeout": "15m", "backup.keep": {"hourly": 1, "weekly": 4}},
            (
                "backup.keep.hourly: hourly is 1 but feeds weekly: a level that feeds a higher "
                "one keeps at least 2 (rsnapshot refuses 1); raise backup.keep.hourly to 2 or more"
            ),
        ),
        (
            {"topics": ["a", LONG]},
            (
                f'topics: "{LONG}" (197 characters) is too long for its files\' names on the '
                "data volume: .{file}.kcb-tmp of a compressed file takes 256 bytes, at most 255 "
                "fit (fix: a topic of at most 196 characters, or a shorter sinkName)"
            ),
        ),
        (
            # YYYY-MM-DDTHH: 3 characters more than a day's period.
            {"sinkRotation": "hourly", "topics": ["t" * 191]},
            (
                "(191 characters) is too long for its files' names on the data volume: "
                ".{file}.kcb-tmp of a compressed file takes 256 bytes, at most 255 fit (fix: a "
                "topic of at most 190 characters, or a shorter sinkName)"
            ),
        ),
        (
            {
                **BACKUP,
                "encryptPassword": "s3cret",
                "backup.encryption.engine": "encfs",
                "sinkRotation": "daily",
                "sinkFormat": "envelope",
                "topics": [ENCFS_LONG],
            },
            (
                f'topics: "{ENCFS_LONG}" (111 characters) is too long for its files\' names on '
                "the encfs backup volume: .kcb-copy-{file}.part of a compressed file takes 188 "
                "bytes, at most 175 fit (fix: a topic of at most 98 characters, or a shorter "
                "sinkName)"
            ),
        ),
    ],
)
def test_values_the_schema_cannot_judge_fail_in_the_templates(
    helm: Helm, values: dict[str, Any], message: str
) -> None:
    """The supervisor refuses the same (config.py); its numbers are the chart's."""
    with pytest.raises(HelmError) as caught:
        helm.template([MINIMAL_VALUES], set_values=values)
    assert message in caught.value.stderr


def test_keep_levels_that_fit_the_cycle_render(helm: Helm) -> None:
    """The highest level may keep 1; a level's period equal to restartTimeout is enough."""
    for values in (
        {"restartTimeout": "15m", "backup.keep": {"hourly": 24, "daily": 30, "monthly": 1}},
        {"restartTimeout": "1h", "backup.keep": {"hourly": 2}},
        {"restartTimeout": "28d", "backup.keep": {"monthly": 12}, "backup.keepAt": "23:59"},
    ):
        helm.template([MINIMAL_VALUES], set_values=values)


def test_the_longest_names_that_fit_render(helm: Helm) -> None:
    helm.template([MINIMAL_VALUES], set_values={"topics": ["t" * 196]})
    helm.template([MINIMAL_VALUES], set_values={"sinkRotation": "hourly", "topics": ["t" * 190]})
    helm.template(
        [MINIMAL_VALUES],
        set_values={
            **BACKUP,
            "encryptPassword": "s3cret",
            "backup.encryption.engine": "encfs",
            "sinkRotation": "daily",
            "sinkFormat": "envelope",
            "topics": ["t" * 98],
        },
    )


TEMPLATES = Path(__file__).resolve().parents[2] / "charts" / "kafka-connect-backup" / "templates"


def test_value_checks_live_in_one_place() -> None:
    """Every check of a value is a `kcb.validate*` define in _helpers.tpl; the only `fail`s
    elsewhere guard worker.properties' rendered lines (chart-set values included) where that
    file is written."""
    failing = {
        path.name: path.read_text(encoding="utf-8").count("fail ")
        for path in sorted(TEMPLATES.iterdir())
        if "fail " in path.read_text(encoding="utf-8")
    }
    assert failing == {"_helpers.tpl": failing["_helpers.tpl"], "configmap-connect.yaml": 3}
