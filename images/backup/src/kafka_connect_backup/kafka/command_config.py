"""`--command-config FILE`: a Java client properties file, the Kafka CLI tools' own convention
(`kafka-console-producer --command-config`), translated into the package's KafkaSecurity.

What librdkafka cannot do (a JKS or PKCS12 store, Kerberos, config provider references) is
refused by name with what to use instead, before anything connects.
"""

from __future__ import annotations

import re
from pathlib import Path

import javaproperties

from kafka_connect_backup.kafka.client import AuthType, KafkaSecurity, KafkaSecurityError

_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
_MECHANISMS: dict[str, AuthType] = {
    "PLAIN": "plain",
    "SCRAM-SHA-256": "scram-sha-256",
    "SCRAM-SHA-512": "scram-sha-512",
    "OAUTHBEARER": "oauth",
}
# Keys read here; anything else is refused (a silently ignored setting is a surprise later).
_KNOWN = {
    "bootstrap.servers",
    "security.protocol",
    "sasl.mechanism",
    "sasl.jaas.config",
    "sasl.oauthbearer.token.endpoint.url",
    "sasl.login.callback.handler.class",
    "ssl.truststore.type",
    "ssl.truststore.location",
    "ssl.truststore.certificates",
    "ssl.keystore.type",
    "ssl.keystore.location",
    "ssl.keystore.certificate.chain",
    "ssl.keystore.key",
    "ssl.key.password",
    "ssl.endpoint.identification.algorithm",
    "client.id",
}
_INSTEAD = {
    "sasl.kerberos.": "Kerberos (GSSAPI) is not supported: use SCRAM, PLAIN, OAUTHBEARER or TLS",
    "ssl.truststore.password": "a PEM truststore has no password: use ssl.truststore.type=PEM",
    "ssl.keystore.password": "use ssl.keystore.type=PEM with an unencrypted PKCS#8 key, or "
    "ssl.key.password for an encrypted one",
}
# key="value" or key=value options of a JAAS line (Kafka's own JaasConfig grammar).
_JAAS_OPTION = re.compile(r'([A-Za-z_][A-Za-z0-9_.]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s;"]+))')
_JAAS_MODULE = re.compile(r"^\s*([A-Za-z0-9_.$]+)\s+(required|requisite|sufficient|optional)\b")


class CommandConfigError(Exception):
    """The file cannot be used; the message names the file, the key and what to use instead."""


def parse_properties(text: str) -> dict[str, str]:
    """Java .properties, by javaproperties (comments, `key: value`, continuations, escapes)."""
    return dict(javaproperties.loads(text))


def parse_jaas(text: str) -> tuple[str, dict[str, str]]:
    """`Module required k="v" ...;` -> (module class, options)."""
    module = _JAAS_MODULE.match(text)
    if module is None:
        raise ValueError("expected '<LoginModule class> required key=\"value\" ...;'")
    options = {
        name: re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare
        for name, quoted, bare in _JAAS_OPTION.findall(text[module.end() :])
    }
    return module.group(1), options


def read_command_config(path: Path) -> KafkaSecurity:
    """The security a --command-config file describes (KafkaSecurityError / CommandConfigError
    messages name the file and the key)."""
    where = f"--command-config {path}"
    try:
        props = parse_properties(path.read_text())
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not a text file"
        raise CommandConfigError(f"{where}: cannot be read ({reason})") from None
    try:
        security = translate(props)
        security.check()
    except (CommandConfigError, KafkaSecurityError) as exc:
        raise CommandConfigError(f"{where}: {exc}") from None
    return security


def bootstrap_of(path: Path) -> str | None:
    """The file's bootstrap.servers, if it has one (read_command_config checked the file)."""
    return parse_properties(path.read_text()).get("bootstrap.servers")


def translate(props: dict[str, str]) -> KafkaSecurity:
    for key, value in props.items():
        for prefix, instead in _INSTEAD.items():
            if key.startswith(prefix):
                raise CommandConfigError(f"{key} cannot be used here: {instead}")
        if key not in _KNOWN:
            raise CommandConfigError(
                f"{key} is not translated to librdkafka: remove it (read: "
                f"{', '.join(sorted(_KNOWN))})"
            )
        if "${" in value:
            raise CommandConfigError(
                f"{key} holds a config provider reference ({value}), which is not resolved "
                "here: put the value itself in the file (readable only by you)"
            )
    protocol = props.get("security.protocol", "PLAINTEXT").upper()
    if protocol not in _PROTOCOLS:
        raise CommandConfigError(
            f"security.protocol {protocol} is not one of {', '.join(_PROTOCOLS)}"
        )
    tls = protocol in ("SSL", "SASL_SSL")
    fields = _truststore(props) if tls else {}
    if protocol.startswith("SASL_"):
        fields.update(_sasl(props))
    elif tls and ("ssl.keystore.location" in props or "ssl.keystore.key" in props):
        fields.update(_keystore(props))
    algorithm = props.get("ssl.endpoint.identification.algorithm", "https").lower()
    if algorithm not in ("", "https"):
        raise CommandConfigError(
            f"ssl.endpoint.identification.algorithm {algorithm!r}: use https (the default) or "
            "an empty value (no host name check)"
        )
    return KafkaSecurity(tls=tls, verify_hostname=algorithm == "https", **fields)  # type: ignore[arg-type]


def _truststore(props: dict[str, str]) -> dict[str, object]:
    if not _has_truststore(props):
        return {}
    kind = props.get("ssl.truststore.type", "").upper()
    if not kind:  # Java's default is JKS; a PEM file given without its type is taken as PEM
        kind = "PEM" if _is_pem(props.get("ssl.truststore.location")) else ""
    if kind != "PEM":
        raise CommandConfigError(
            f"ssl.truststore.type {kind or 'JKS (the default)'} cannot be read by librdkafka: "
            "set ssl.truststore.type=PEM and ssl.truststore.location to the CA certificate in "
            "PEM (keytool -exportcert -rfc -keystore <store> -alias <ca> > ca.crt)"
        )
    if "ssl.truststore.certificates" in props:
        return {"trusted_certificates_pem": props["ssl.truststore.certificates"]}
    return {"trusted_certificate_files": (Path(props["ssl.truststore.location"]),)}


def _is_pem(location: str | None) -> bool:
    try:
        return location is not None and Path(location).read_bytes()[:4096].lstrip().startswith(
            b"-----BEGIN"
        )
    except OSError:
        return False


def _has_truststore(props: dict[str, str]) -> bool:
    return "ssl.truststore.location" in props or "ssl.truststore.certificates" in props


def _keystore(props: dict[str, str]) -> dict[str, object]:
    kind = props.get("ssl.keystore.type", "JKS").upper()
    if kind != "PEM":
        raise CommandConfigError(
            f"ssl.keystore.type {kind} cannot be read by librdkafka: set ssl.keystore.type=PEM "
            "and ssl.keystore.location to one file with the PKCS#8 private key and the "
            "certificate in PEM"
        )
    if "ssl.keystore.key" in props or "ssl.keystore.certificate.chain" in props:
        raise CommandConfigError(
            "ssl.keystore.key / ssl.keystore.certificate.chain inline PEM are not supported "
            "here: put the key and the certificate in one PEM file and give its ssl.keystore."
            "location"
        )
    keystore = Path(props["ssl.keystore.location"])
    return {
        "auth": "tls",
        "certificate_file": keystore,
        "key_file": keystore,
        "key_password": props.get("ssl.key.password"),
    }


def _sasl(props: dict[str, str]) -> dict[str, object]:
    mechanism = props.get("sasl.mechanism", "GSSAPI").upper()
    if mechanism not in _MECHANISMS:
        raise CommandConfigError(
            f"sasl.mechanism {mechanism}{' (the default)' if 'sasl.mechanism' not in props else ''}"
            f" is not supported: use one of {', '.join(_MECHANISMS)}"
        )
    if "sasl.jaas.config" not in props:
        raise CommandConfigError(f"sasl.mechanism {mechanism} needs sasl.jaas.config")
    try:
        module, options = parse_jaas(props["sasl.jaas.config"])
    except ValueError as exc:
        raise CommandConfigError(f"sasl.jaas.config: {exc}") from None
    auth = _MECHANISMS[mechanism]
    if auth != "oauth":
        for option in ("username", "password"):
            if option not in options:
                raise CommandConfigError(f"sasl.jaas.config ({module}) has no {option}=")
        return {"auth": auth, "username": options["username"], "password": options["password"]}
    endpoint = props.get("sasl.oauthbearer.token.endpoint.url")
    if endpoint is None:
        # Kafka's unsecured JWT login (OAuthBearerLoginModule without a token endpoint).
        subject = options.get("unsecuredLoginStringClaim_sub")
        if subject is None:
            raise CommandConfigError(
                "OAUTHBEARER needs sasl.oauthbearer.token.endpoint.url (with clientId and "
                "clientSecret in sasl.jaas.config), or unsecuredLoginStringClaim_sub for "
                "Kafka's unsecured JWT (development only)"
            )
        return {"auth": auth, "unsecured_jwt_principal": subject}
    for option in ("clientId", "clientSecret"):
        if option not in options:
            raise CommandConfigError(f"sasl.jaas.config ({module}) has no {option}=")
    return {
        "auth": auth,
        "token_endpoint_uri": endpoint,
        "client_id": options["clientId"],
        "client_secret": options["clientSecret"],
        "scope": options.get("scope"),
    }
