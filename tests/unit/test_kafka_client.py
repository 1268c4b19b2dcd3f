"""The one Kafka client configuration: librdkafka settings from the config's security block,
--command-config translation (and what it refuses), and the diagnosis of librdkafka's errors."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from confluent_kafka import KafkaError

from kafka_connect_backup.config import ConfigError, load_config, parse_config
from kafka_connect_backup.kafka.acls import backup_acls, restore_acls
from kafka_connect_backup.kafka.client import (
    CAUSE_ACL,
    CAUSE_AUTH,
    CAUSE_TLS,
    KafkaConnection,
    KafkaSecurity,
    KafkaSecurityError,
    diagnose,
)
from kafka_connect_backup.kafka.command_config import CommandConfigError, read_command_config
from kafka_connect_backup.restore.cli import build_parser
from kafka_connect_backup.restore.cli import main as restore_main
from kafka_connect_backup.restore.validate import settings_from_args

pytestmark = pytest.mark.unit


def _files(tmp_path: Path) -> dict[str, Path]:
    files = {
        "ca": tmp_path / "ca.crt",
        "ca2": tmp_path / "ca2.crt",
        "password": tmp_path / "password",
        "secret": tmp_path / "client-secret",
    }
    files["ca"].write_text("-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----\n")
    files["ca2"].write_text("-----BEGIN CERTIFICATE-----\nBBB\n-----END CERTIFICATE-----\n")
    files["password"].write_text("s3cret")
    files["secret"].write_text("oauth-s3cret")
    return files


def test_the_config_block_becomes_librdkafka_settings(tmp_path: Path) -> None:
    files = _files(tmp_path)
    config = parse_config(
        {
            "topics": ["orders"],
            "kafka": {
                "bootstrapServers": "kafka.example:9093",
                "tls": {
                    "enabled": True,
                    "trustedCertificateFiles": [str(files["ca"]), str(files["ca2"])],
                },
                "authentication": {
                    "type": "scram-sha-512",
                    "username": "backup",
                    "passwordFile": str(files["password"]),
                },
            },
        },
        "test",
    )
    settings = config.kafka.connection().settings({"linger.ms": 5})
    assert settings == {
        "linger.ms": 5,
        "bootstrap.servers": "kafka.example:9093",
        "security.protocol": "SASL_SSL",
        "ssl.endpoint.identification.algorithm": "https",
        "ssl.ca.pem": files["ca"].read_text() + files["ca2"].read_text(),
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "backup",
        "sasl.password": "s3cret",
    }
    # The secret is read when a client is made, never kept in the config or shown by repr.
    assert "s3cret" not in repr(config) and "s3cret" not in repr(config.kafka.connection())


def test_each_type_sets_its_mechanism(tmp_path: Path) -> None:
    files = _files(tmp_path)
    oauth = KafkaSecurity(
        tls=True,
        auth="oauth",
        token_endpoint_uri="https://idp.example/token",
        client_id="kcb",
        client_secret_file=files["secret"],
        scope="kafka",
    ).librdkafka()
    assert oauth["security.protocol"] == "SASL_SSL"
    assert oauth["ssl.ca.location"] == "probe"  # no CA given: the system's
    assert {k: v for k, v in oauth.items() if k.startswith("sasl.")} == {
        "sasl.mechanism": "OAUTHBEARER",
        "sasl.oauthbearer.method": "oidc",
        "sasl.oauthbearer.token.endpoint.url": "https://idp.example/token",
        "sasl.oauthbearer.client.id": "kcb",
        "sasl.oauthbearer.client.secret": "oauth-s3cret",
        "sasl.oauthbearer.scope": "kafka",
    }
    mtls = KafkaSecurity(
        tls=True, auth="tls", certificate_file=files["ca"], key_file=files["password"]
    ).librdkafka()
    assert mtls["security.protocol"] == "SSL"
    assert mtls["ssl.certificate.location"] == str(files["ca"])
    assert mtls["ssl.key.location"] == str(files["password"])
    plain = KafkaSecurity(auth="plain", username="u", password_file=files["password"])
    assert plain.librdkafka() == {
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "PLAIN",
        "sasl.username": "u",
        "sasl.password": "s3cret",
    }
    assert KafkaSecurity().librdkafka() == {"security.protocol": "PLAINTEXT"}


@pytest.mark.parametrize(
    ("kafka", "message"),
    [
        (
            {"authentication": {"type": "tls", "certificateFile": "/c", "keyFile": "/k"}},
            "authentication type tls (a client certificate) needs TLS: enable kafka.tls.enabled",
        ),
        (
            {"authentication": {"type": "scram-sha-512", "passwordFile": "/p"}},
            "authentication type scram-sha-512 needs a username (kafka.authentication.username)",
        ),
        (
            {"authentication": {"type": "plain", "username": "u"}},
            "needs a password file (kafka.authentication.passwordSecret)",
        ),
        (
            {"authentication": {"type": "oauth", "clientId": "c"}},
            "needs kafka.authentication.tokenEndpointUri, kafka.authentication.clientSecret",
        ),
        ({"authentication": {"type": "gssapi"}}, "kafka.authentication.type"),
        (
            {"authentication": {"type": "plain", "username": 'a" b', "passwordFile": "/p"}},
            "kafka.authentication.username",
        ),
    ],
)
def test_bad_security_blocks_are_refused_by_name(kafka: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match="kafka") as raised:
        parse_config({"topics": ["t"], "kafka": kafka}, "test")
    assert message in str(raised.value)


def test_a_missing_secret_file_names_it(tmp_path: Path) -> None:
    security = KafkaSecurity(auth="plain", username="u", password_file=tmp_path / "nope")
    with pytest.raises(KafkaSecurityError) as raised:
        security.librdkafka()
    assert str(raised.value) == (
        f"the Kafka password file {tmp_path / 'nope'} does not exist: check the Secret it is "
        "mounted from"
    )


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "client.properties"
    path.write_text(text)
    return path


def test_command_config_scram_over_tls(tmp_path: Path) -> None:
    files = _files(tmp_path)
    path = _write(
        tmp_path,
        "# as for kafka-console-producer --command-config\n"
        "security.protocol=SASL_SSL\n"
        "sasl.mechanism=SCRAM-SHA-256\n"
        "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required \\\n"
        '    username="restore" password="pa ss;w=rd";\n'
        "ssl.truststore.type=PEM\n"
        f"ssl.truststore.location={files['ca']}\n"
        "ssl.endpoint.identification.algorithm=\n",
    )
    security = read_command_config(path)
    assert security == KafkaSecurity(
        tls=True,
        trusted_certificate_files=(files["ca"],),
        verify_hostname=False,
        auth="scram-sha-256",
        username="restore",
        password="pa ss;w=rd",
    )
    assert security.librdkafka()["ssl.endpoint.identification.algorithm"] == "none"


def test_command_config_mutual_tls_and_unsecured_oauth(tmp_path: Path) -> None:
    mtls = _write(
        tmp_path,
        "security.protocol=SSL\nssl.keystore.type=PEM\nssl.keystore.location=/k/user.pem\n",
    )
    assert read_command_config(mtls) == KafkaSecurity(
        tls=True, auth="tls", certificate_file=Path("/k/user.pem"), key_file=Path("/k/user.pem")
    )
    oauth = _write(
        tmp_path,
        "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=OAUTHBEARER\n"
        "sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule "
        'required unsecuredLoginStringClaim_sub="backup";\n',
    )
    assert read_command_config(oauth).librdkafka() == {
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "OAUTHBEARER",
        "enable.sasl.oauthbearer.unsecure.jwt": True,
        "sasl.oauthbearer.config": "principal=backup",
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "security.protocol=SSL\nssl.truststore.location=/t.jks\nssl.truststore.type=JKS\n",
            "ssl.truststore.type JKS cannot be read by librdkafka: set ssl.truststore.type=PEM",
        ),
        (
            "security.protocol=SASL_SSL\nsasl.mechanism=GSSAPI\n",
            (
                "sasl.mechanism GSSAPI is not supported: use one of PLAIN, SCRAM-SHA-256, "
                "SCRAM-SHA-512, OAUTHBEARER"
            ),
        ),
        (
            "security.protocol=SASL_SSL\nsasl.kerberos.service.name=kafka\n",
            "sasl.kerberos.service.name cannot be used here: Kerberos (GSSAPI) is not supported",
        ),
        ("security.protocol=SASL_SSL\nsasl.mechanism=PLAIN\n", "needs sasl.jaas.config"),
        ("acks=all\n", "acks is not translated to librdkafka: remove it"),
        (
            (
                "security.protocol=SASL_SSL\nsasl.mechanism=PLAIN\nsasl.jaas.config="
                "x required username=u password=${file:/p:pw};\n"
            ),
            "config provider reference",
        ),
        ("security.protocol=TLS\n", "security.protocol TLS is not one of"),
    ],
)
def test_command_config_refuses_what_it_cannot_translate(
    tmp_path: Path, text: str, message: str
) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(CommandConfigError) as raised:
        read_command_config(path)
    assert str(raised.value).startswith(f"--command-config {path}: ")
    assert message in str(raised.value)


def test_kcb_command_config_replaces_the_configs_security(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("topics: [t]\nkafka: {bootstrapServers: 'k:9093'}\n")
    properties = _write(
        tmp_path,
        "security.protocol=SASL_SSL\nsasl.mechanism=PLAIN\nsasl.jaas.config="
        'org.apache.kafka.common.security.plain.PlainLoginModule required username="a" '
        'password="b";\n',
    )
    connection = load_config(config, properties).kafka.connection()
    assert connection.bootstrap == "k:9093"
    assert connection.security.describe() == "user a (PLAIN over TLS)"
    with pytest.raises(ConfigError, match="acks is not translated"):
        load_config(config, _write(tmp_path, "acks=1\n"))


def _error(code: int, text: str) -> KafkaError:
    return KafkaError(code, text)


def test_librdkafka_errors_are_diagnosed_by_cause(tmp_path: Path) -> None:
    files = _files(tmp_path)
    files["password"].write_text("s3cret\n")
    scram = KafkaConnection(
        "k:9093",
        KafkaSecurity(
            tls=True,
            trusted_certificate_files=(files["ca"],),
            auth="scram-sha-512",
            username="backup",
            password_file=files["password"],
        ),
    )
    auth = diagnose(
        scram,
        [
            _error(
                KafkaError._AUTHENTICATION,
                "SASL authentication error: Authentication failed during authentication due "
                "to invalid credentials with SASL mechanism SCRAM-SHA-512",
            )
        ],
    )
    assert auth is not None and auth.cause == CAUSE_AUTH
    assert auth.message.startswith(
        "Kafka at k:9093 refused the credentials of user backup (SCRAM-SHA-512 over TLS): "
        f"check the password in {files['password']} (kafka.authentication.passwordSecret) and "
        "that user backup exists for SCRAM-SHA-512; the password file ends with a newline"
    )
    ca = diagnose(
        scram,
        [
            _error(
                KafkaError._SSL,
                "ssl://k:9093/bootstrap: SSL handshake failed: error:0A000086:SSL routines::"
                "certificate verify failed: broker certificate could not be verified",
            )
        ],
    )
    assert ca is not None and ca.cause == CAUSE_TLS
    assert ca.message == (
        f"the certificate of Kafka at k:9093 is not signed by a trusted CA ({files['ca']}): "
        "add the cluster's CA certificate to kafka.tls.trustedCertificates"
    )
    acl = diagnose(scram, [_error(KafkaError.TOPIC_AUTHORIZATION_FAILED, "denied")])
    assert acl is not None and acl.cause == CAUSE_ACL
    assert diagnose(scram, [_error(KafkaError._TRANSPORT, "Connection refused")]) is None


def test_the_chart_readme_lists_exactly_the_acls_of_acls_py() -> None:
    readme = (
        Path(__file__).resolve().parents[2] / "charts" / "kafka-connect-backup" / "README.md"
    ).read_text()
    section = readme.split("### Kafka ACLs", 1)[1].split("\n### ", 1)[0]
    rows = {
        tuple(cell.strip().strip("`") for cell in line.strip("|").split("|")[:3])
        for line in section.splitlines()
        if line.startswith(("| topic", "| group"))
    }
    listed = set()
    for resource, name, operations in rows:
        for operation in operations.split(", "):
            listed.add((resource.removesuffix(", prefixed"), name.split("`")[0], operation))
    wanted = {
        (acl.resource, acl.name, acl.operation)
        for acl in backup_acls(["<topic>"], "<sinkName>") + restore_acls("<topic>", "<sinkName>")
    }
    assert listed == wanted


def test_restore_takes_its_security_and_servers_from_command_config(tmp_path: Path) -> None:
    properties = _write(
        tmp_path,
        "bootstrap.servers=k1:9093,k2\nsecurity.protocol=SASL_SSL\nsasl.mechanism=PLAIN\n"
        'sasl.jaas.config=x required username="r" password="p";\n',
    )
    base = ["t", "--from", "2026-01-01", "--files", "x.sink", "--config", str(tmp_path / "no")]
    args = build_parser().parse_args([*base, "--command-config", str(properties)])
    (tmp_path / "no").write_text("topics: [t]\n")
    settings = settings_from_args(args, need_sources=True)
    assert settings.kafka == KafkaConnection(
        "k1:9093,k2:9092",
        KafkaSecurity(tls=True, auth="plain", username="r", password="p"),
    )
    # A server given on the command line wins over the file's.
    args = build_parser().parse_args(
        [*base, "--bootstrap", "b:1", "--command-config", str(properties)]
    )
    assert settings_from_args(args, need_sources=True).kafka.bootstrap == "b:1"


def test_a_bad_command_config_is_exit_2_naming_the_key(tmp_path: Path) -> None:
    properties = _write(tmp_path, "security.protocol=SSL\nssl.truststore.location=/t.jks\n")
    sink = tmp_path / "t-s-2026-01.sink"
    sink.write_text('{"utcTime": "2026-01-02T00:00:00Z"}\n')
    err = io.StringIO()
    code = restore_main(
        ["t", "k:9093", str(sink), "2026-01-01", "--command-config", str(properties)],
        stdout=io.StringIO(),
        stderr=err,
    )
    assert code == 2
    assert err.getvalue() == (
        f"restore.py: error: --command-config {properties}: ssl.truststore.type JKS (the "
        "default) cannot be read by librdkafka: set ssl.truststore.type=PEM and "
        "ssl.truststore.location to the CA certificate in PEM (keytool -exportcert -rfc "
        "-keystore <store> -alias <ca> > ca.crt)\n"
    )
