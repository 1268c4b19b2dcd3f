"""The one Kafka client configuration of the package: the bootstrap servers and the TLS / SASL
security every librdkafka client uses (the supervisor's Admin reads and status, drills,
restore's producer, Admin and consumers), and what its failures mean to an operator.

Secrets are never held in the config: it names files (the chart mounts its Secrets there) and
they are read each time a client is made, so a rotated Secret takes effect without a restart.
A file's content is used exactly as it is, as Kafka's own DirectoryConfigProvider hands it to
Connect: a password that works for one works for the other.

Import-light (no pydantic, no yaml): restore.py builds one from the command line.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from confluent_kafka import KafkaError, KafkaException

AuthType = Literal["tls", "scram-sha-256", "scram-sha-512", "plain", "oauth"]
_SASL_MECHANISM = {
    "scram-sha-256": "SCRAM-SHA-256",
    "scram-sha-512": "SCRAM-SHA-512",
    "plain": "PLAIN",
    "oauth": "OAUTHBEARER",
}


class KafkaSecurityError(Exception):
    """The security settings cannot be used as given (a file missing or unreadable, a
    combination that cannot work); the message names the setting and the fix."""


@dataclass(frozen=True)
class KafkaSecurity:
    """TLS and authentication, as the chart's `kafka.tls` / `kafka.authentication` say them
    (file paths instead of Secrets). The default is Kafka's own: plaintext, anonymous."""

    tls: bool = False
    # PEM CA certificates the broker's certificate must chain to (none: the system's CAs).
    trusted_certificate_files: tuple[Path, ...] = ()
    # Inline PEM CA certificates (a --command-config's ssl.truststore.certificates).
    trusted_certificates_pem: str | None = None
    verify_hostname: bool = True
    auth: AuthType | None = None
    username: str | None = None
    password_file: Path | None = None
    # From a --command-config's JAAS line, never from the config; never shown.
    password: str | None = field(default=None, repr=False)
    certificate_file: Path | None = None
    key_file: Path | None = None
    key_password: str | None = field(default=None, repr=False)
    # oauth: OIDC client credentials against a token endpoint ...
    token_endpoint_uri: str | None = None
    client_id: str | None = None
    client_secret_file: Path | None = None
    client_secret: str | None = field(default=None, repr=False)
    scope: str | None = None
    # ... or, for tests and development only, Kafka's unsecured JWT (no token endpoint).
    unsecured_jwt_principal: str | None = None

    @property
    def protocol(self) -> str:
        sasl = self.auth is not None and self.auth != "tls"
        if self.tls:
            return "SASL_SSL" if sasl else "SSL"
        return "SASL_PLAINTEXT" if sasl else "PLAINTEXT"

    @property
    def mechanism(self) -> str | None:
        return _SASL_MECHANISM.get(self.auth) if self.auth else None

    def describe(self) -> str:
        """Who connects how, for messages: `user backup (SCRAM-SHA-512 over TLS)`."""
        if self.auth is None:
            return "an anonymous client" + (" over TLS" if self.tls else "")
        if self.auth == "tls":
            return f"the TLS client certificate {self.certificate_file or '(inline)'}"
        who = self.username or self.client_id or self.unsecured_jwt_principal or "?"
        return f"user {who} ({self.mechanism}{' over TLS' if self.tls else ''})"

    def check(self) -> None:
        """Refuse combinations that cannot work, naming the setting."""
        if self.auth == "tls" and not self.tls:
            raise KafkaSecurityError(
                "authentication type tls (a client certificate) needs TLS: enable "
                "kafka.tls.enabled (security.protocol SSL)"
            )
        if self.auth == "tls" and not (self.certificate_file and self.key_file):
            raise KafkaSecurityError(
                "authentication type tls needs the client certificate and its key "
                "(kafka.authentication.certificateAndKey)"
            )
        if self.auth in ("plain", "scram-sha-256", "scram-sha-512"):
            if not self.username:
                raise KafkaSecurityError(
                    f"authentication type {self.auth} needs a username "
                    "(kafka.authentication.username)"
                )
            if self.password_file is None and self.password is None:
                raise KafkaSecurityError(
                    f"authentication type {self.auth} needs a password file "
                    "(kafka.authentication.passwordSecret)"
                )
        if self.auth == "oauth" and self.unsecured_jwt_principal is None:
            missing = [
                name
                for name, value in (
                    ("tokenEndpointUri", self.token_endpoint_uri),
                    ("clientId", self.client_id),
                    ("clientSecret", self.client_secret_file or self.client_secret),
                )
                if not value
            ]
            if missing:
                raise KafkaSecurityError(
                    "authentication type oauth needs "
                    + ", ".join(f"kafka.authentication.{m}" for m in missing)
                )

    def librdkafka(self) -> dict[str, Any]:
        """The librdkafka settings; reads the secret files now (KafkaSecurityError naming an
        unreadable one)."""
        self.check()
        settings: dict[str, Any] = {"security.protocol": self.protocol}
        if self.tls:
            settings.update(self._tls_settings())
        mechanism = self.mechanism
        if mechanism is not None:
            settings["sasl.mechanism"] = mechanism
        if mechanism in ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"):
            settings["sasl.username"] = self.username
            settings["sasl.password"] = (
                self.password
                if self.password is not None
                else _read(self.password_file, "password")
            )
        elif mechanism == "OAUTHBEARER":
            settings.update(self._oauth_settings())
        return settings

    def _tls_settings(self) -> dict[str, Any]:
        settings: dict[str, Any] = {
            "ssl.endpoint.identification.algorithm": "https" if self.verify_hostname else "none"
        }
        cas = [_read(path, "trusted certificate") for path in self.trusted_certificate_files]
        if self.trusted_certificates_pem:
            cas.append(self.trusted_certificates_pem)
        if cas:
            settings["ssl.ca.pem"] = "\n".join(ca.strip() for ca in cas) + "\n"
        else:
            settings["ssl.ca.location"] = "probe"  # the system's CA store
        if self.auth == "tls" and self.certificate_file and self.key_file:
            settings["ssl.certificate.location"] = str(
                _readable(self.certificate_file, "certificate")
            )
            settings["ssl.key.location"] = str(_readable(self.key_file, "key"))
            if self.key_password is not None:
                settings["ssl.key.password"] = self.key_password
        return settings

    def _oauth_settings(self) -> dict[str, Any]:
        if self.unsecured_jwt_principal is not None:
            return {
                "enable.sasl.oauthbearer.unsecure.jwt": True,
                "sasl.oauthbearer.config": f"principal={self.unsecured_jwt_principal}",
            }
        secret = (
            self.client_secret
            if self.client_secret is not None
            else _read(self.client_secret_file, "OAuth client secret")
        )
        settings: dict[str, Any] = {
            "sasl.oauthbearer.method": "oidc",
            "sasl.oauthbearer.token.endpoint.url": self.token_endpoint_uri,
            "sasl.oauthbearer.client.id": self.client_id,
            "sasl.oauthbearer.client.secret": secret,
        }
        if self.scope:
            settings["sasl.oauthbearer.scope"] = self.scope
        return settings


PLAINTEXT = KafkaSecurity()
DEFAULT_PORT = 9092


def bootstrap_servers(server: str) -> str:
    """The original's `kafka_server`: a host without a port means port 9092 (also in lists)."""
    hosts = []
    for host in (part.strip() for part in server.split(",")):
        if not host:
            raise ValueError(f"{server!r} is not a Kafka server: use host or host:port")
        _scheme, sep, rest = host.partition("://")
        if sep:  # http://host:9092: a URL, which no Kafka client takes
            example = rest.rstrip("/") or "kafka:9092"
            raise ValueError(f"{host!r} is a URL: give host:port, no scheme (e.g. {example})")
        if host.startswith("["):  # [IPv6] or [IPv6]:port
            hosts.append(host if "]:" in host else f"{host}:{DEFAULT_PORT}")
        elif ":" in host:
            port = host.rsplit(":", 1)[1]
            if not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"{host!r} has a bad port: use host or host:port (port 1-65535)")
            hosts.append(host)
        else:
            hosts.append(f"{host}:{DEFAULT_PORT}")
    return ",".join(hosts)


@dataclass(frozen=True)
class KafkaConnection:
    """Where Kafka is and how to connect: what every client of the package is made from."""

    bootstrap: str
    security: KafkaSecurity = PLAINTEXT

    def settings(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """librdkafka settings for one client: the connection's, then `extra` (client tuning;
        it cannot change the connection's security)."""
        return {**(extra or {}), "bootstrap.servers": self.bootstrap, **self.security.librdkafka()}


def _readable(path: Path, what: str) -> Path:
    _read(path, what)
    return path


def _read(path: Path | None, what: str) -> str:
    if path is None:
        raise KafkaSecurityError(f"no {what} file given")
    try:
        return path.read_text()
    except FileNotFoundError:
        raise KafkaSecurityError(
            f"the Kafka {what} file {path} does not exist: check the Secret it is mounted from"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not text"
        raise KafkaSecurityError(
            f"the Kafka {what} file {path} cannot be read ({reason}): check the Secret it is "
            "mounted from and the file's permissions"
        ) from None


# ---- What a failure means ------------------------------------------------------------------

# Causes: the metric labels of the supervisor's failures, and restore.py's messages.
CAUSE_AUTH = "kafka_auth"
CAUSE_TLS = "kafka_tls"
CAUSE_ACL = "kafka_acl"
CAUSE_UNREACHABLE = "kafka_unreachable"

_ACL_CODES = {
    KafkaError.TOPIC_AUTHORIZATION_FAILED: "topic",
    KafkaError.GROUP_AUTHORIZATION_FAILED: "group",
    KafkaError.CLUSTER_AUTHORIZATION_FAILED: "cluster",
    KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED: "transactional id",
}


@dataclass(frozen=True)
class Diagnosis:
    cause: str
    message: str  # one line: what is wrong and what to fix


def error_text(error: KafkaError | KafkaException | BaseException | str) -> str:
    if isinstance(error, KafkaException) and error.args and isinstance(error.args[0], KafkaError):
        error = error.args[0]
    if isinstance(error, KafkaError):
        return str(error.str())
    return str(error)


def error_code(error: KafkaError | KafkaException | BaseException) -> int | None:
    if isinstance(error, KafkaException) and error.args and isinstance(error.args[0], KafkaError):
        error = error.args[0]
    return int(error.code()) if isinstance(error, KafkaError) else None


def diagnose(
    connection: KafkaConnection, errors: Iterable[KafkaError | KafkaException]
) -> Diagnosis | None:
    """The first error among `errors` that says why Kafka cannot be used (credentials, TLS,
    an ACL), as one line naming what to fix; None when none of them does."""
    for error in errors:
        found = _diagnose_one(connection, error)
        if found is not None:
            return found
    return None


def _diagnose_one(
    connection: KafkaConnection, error: KafkaError | KafkaException
) -> Diagnosis | None:
    code, text = error_code(error), error_text(error)
    security = connection.security
    where = connection.bootstrap
    lowered = text.lower()
    if code in (KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED):
        if "ssl" in lowered and "sasl" not in lowered:
            return _tls_diagnosis(connection, lowered)
        return Diagnosis(CAUSE_AUTH, _auth_message(security, where, text))
    if code == KafkaError._SSL or "ssl handshake failed" in lowered or "ssl/tls alert" in lowered:
        return _tls_diagnosis(connection, lowered)
    if code in _ACL_CODES:
        return Diagnosis(
            CAUSE_ACL,
            f"Kafka at {where} denied {security.describe()} access to a {_ACL_CODES[code]} "
            f"({text}): grant the ACLs listed in the chart README's 'Kafka ACLs'",
        )
    if "might be caused by incorrect security.protocol" in lowered:
        return Diagnosis(
            CAUSE_TLS,
            f"Kafka at {where} closed the connection of {security.describe()}: the listener "
            "probably requires TLS or SASL (set kafka.tls / kafka.authentication, or "
            "security.protocol in --command-config)",
        )
    return None


def _auth_message(security: KafkaSecurity, where: str, text: str) -> str:
    if security.auth is None:
        return (
            f"Kafka at {where} requires authentication: set kafka.authentication (or "
            f"sasl.mechanism and sasl.jaas.config in --command-config) ({text})"
        )
    fix = "check the credentials"
    if security.password_file is not None:
        fix = (
            f"check the password in {security.password_file} (kafka.authentication."
            f"passwordSecret) and that user {security.username} exists for "
            f"{security.mechanism}"
        )
        try:
            if security.password_file.read_text().endswith("\n"):
                fix += "; the password file ends with a newline, which is part of the password"
        except OSError:
            pass
    elif security.auth == "oauth":
        fix = "check kafka.authentication.clientId, clientSecret and tokenEndpointUri"
    elif security.password is not None:
        fix = f"check the password of user {security.username} in --command-config"
    return f"Kafka at {where} refused the credentials of {security.describe()}: {fix} ({text})"


def _tls_diagnosis(connection: KafkaConnection, lowered: str) -> Diagnosis:
    security, where = connection.security, connection.bootstrap
    verify = None
    if "certificate verify failed" in lowered or "could not be verified" in lowered:
        # librdkafka says the same for every verification failure: ask the broker once more,
        # with Python's TLS and the same trust, to learn which check failed.
        verify = _verification_failure(connection)
    if "hostname" in lowered or (verify is not None and verify[0] == _HOSTNAME_MISMATCH):
        return Diagnosis(
            CAUSE_TLS,
            f"the certificate of Kafka at {where} does not name that host: connect through "
            "a name or address in the certificate's subjectAltName (kafka.bootstrapServers)",
        )
    if verify is not None and verify[0] in _EXPIRED:
        return Diagnosis(
            CAUSE_TLS,
            f"the certificate of Kafka at {where} is not valid now ({verify[1]}): renew the "
            "broker's certificate, or check this machine's clock",
        )
    if verify is not None or "certificate verify failed" in lowered:
        cas = ", ".join(str(p) for p in security.trusted_certificate_files) or "the system's CAs"
        return Diagnosis(
            CAUSE_TLS,
            f"the certificate of Kafka at {where} is not signed by a trusted CA ({cas}): "
            "add the cluster's CA certificate to kafka.tls.trustedCertificates",
        )
    if any(text in lowered for text in ("wrong version number", "packet length too long")):
        return Diagnosis(
            CAUSE_TLS,
            f"Kafka at {where} does not speak TLS on that port: use its TLS listener's port, "
            "or disable kafka.tls",
        )
    if "alert" in lowered or "certificate required" in lowered:
        return Diagnosis(
            CAUSE_TLS,
            f"Kafka at {where} refused the TLS handshake of {security.describe()}: it may "
            "require a client certificate (kafka.authentication type tls) signed by a CA it trusts",
        )
    return Diagnosis(
        CAUSE_TLS,
        f"the TLS handshake with Kafka at {where} failed: check kafka.tls ({lowered})",
    )


def probe(connection: KafkaConnection) -> Diagnosis | None:
    """What librdkafka does not say when a listener drops a client that speaks the wrong
    protocol: a plaintext client at a TLS listener (the broker closes without a word)."""
    if connection.security.tls:
        return None
    host, _, port = connection.bootstrap.split(",")[0].strip().rpartition(":")
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with (
            socket.create_connection((host.strip("[]"), int(port)), timeout=5) as raw,
            context.wrap_socket(raw, server_hostname=host.strip("[]")),
        ):
            pass
    except (OSError, ValueError):
        return None  # no TLS listener there (or nothing at all): not this cause
    return Diagnosis(
        CAUSE_TLS,
        f"Kafka at {connection.bootstrap} requires TLS and this client does not use it: set "
        "kafka.tls (and kafka.authentication) in the values, or security.protocol SSL / "
        "SASL_SSL in --command-config",
    )


# OpenSSL's X509_V_ERR_* codes (ssl.SSLCertVerificationError.verify_code).
_HOSTNAME_MISMATCH = 62
_EXPIRED = (9, 10)  # not yet valid, expired


def _verification_failure(connection: KafkaConnection) -> tuple[int, str] | None:
    """(OpenSSL verify code, its text) of the first bootstrap server's certificate checked
    with the connection's trust; None when it verifies or cannot be reached."""
    security = connection.security
    host, _, port = connection.bootstrap.split(",")[0].strip().rpartition(":")
    host = host.strip("[]")
    try:
        cas = [path.read_text() for path in security.trusted_certificate_files]
        if security.trusted_certificates_pem:
            cas.append(security.trusted_certificates_pem)
        context = ssl.create_default_context(cadata="\n".join(cas) if cas else None)
        context.check_hostname = security.verify_hostname
        with (
            socket.create_connection((host, int(port)), timeout=5) as raw,
            context.wrap_socket(raw, server_hostname=host),
        ):
            return None
    except ssl.SSLCertVerificationError as exc:
        return int(exc.verify_code), str(exc.verify_message)
    except (OSError, ValueError):
        return None
