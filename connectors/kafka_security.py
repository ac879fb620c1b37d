"""How a Kafka client authenticates: PLAINTEXT, or SASL (SCRAM-SHA-512) with or without TLS.

One model for the hub and the agency SDK. The hub reads it from the environment
(`LINKAGE_KAFKA_SECURITY_PROTOCOL`, `LINKAGE_KAFKA_SASL_MECHANISM`,
`LINKAGE_KAFKA_SASL_USERNAME`, `LINKAGE_KAFKA_SASL_PASSWORD` or `..._PASSWORD_FILE`,
`LINKAGE_KAFKA_SSL_CAFILE`); an agency gets a Java-style client properties file from the
operator (`linkage-hub kafka credentials issue`) and loads it with `from_properties`.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, SecretStr, model_validator

Protocol = Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL", "SSL"]
Mechanism = Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"]


class KafkaSecurity(BaseModel):
    """A client's security settings; `aiokafka()` gives the keyword arguments for aiokafka."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    protocol: Protocol = "PLAINTEXT"
    mechanism: Mechanism = "SCRAM-SHA-512"
    username: str | None = None
    password: SecretStr | None = None
    ssl_cafile: str | None = None

    @model_validator(mode="after")
    def _sasl_needs_a_user(self) -> KafkaSecurity:
        if self.sasl and not (self.username and self.password):
            raise ValueError("SASL 需要用户名和密码 / SASL needs a username and a password")
        return self

    @property
    def sasl(self) -> bool:
        return self.protocol.startswith("SASL")

    def ssl_context(self) -> ssl.SSLContext | None:
        if self.protocol not in ("SSL", "SASL_SSL"):
            return None
        return ssl.create_default_context(cafile=self.ssl_cafile)

    def aiokafka(self) -> dict[str, Any]:
        """Keyword arguments for aiokafka's producer, consumer and admin client."""
        kwargs: dict[str, Any] = {"security_protocol": self.protocol}
        context = self.ssl_context()
        if context is not None:
            kwargs["ssl_context"] = context
        if self.sasl:
            assert self.password is not None
            kwargs.update(sasl_mechanism=self.mechanism, sasl_plain_username=self.username,
                          sasl_plain_password=self.password.get_secret_value())
        return kwargs

    def java_properties(self) -> str:
        """The same as a Java client configuration (what an agency's Kafka tools read)."""
        lines = [f"security.protocol={self.protocol}"]
        if self.sasl:
            assert self.password is not None
            module = ("org.apache.kafka.common.security.plain.PlainLoginModule"
                      if self.mechanism == "PLAIN"
                      else "org.apache.kafka.common.security.scram.ScramLoginModule")
            lines += [f"sasl.mechanism={self.mechanism}",
                      f'sasl.jaas.config={module} required username="{self.username}" '
                      f'password="{self.password.get_secret_value()}";']
        if self.ssl_cafile:
            lines.append(f"ssl.truststore.location={self.ssl_cafile}")
        return "\n".join(lines) + "\n"

    @classmethod
    def from_env(cls, env: Mapping[str, str], prefix: str = "LINKAGE_KAFKA_") -> KafkaSecurity:
        """From `<prefix>SECURITY_PROTOCOL`, `<prefix>SASL_*`, `<prefix>SSL_CAFILE`.

        A username without a protocol means SASL_PLAINTEXT; `<prefix>SASL_PASSWORD_FILE`
        names a file holding the password (for secret mounts), read here. Or
        `<prefix>CLIENT_PROPERTIES` names a client properties file as `kafka credentials
        issue` writes it, and nothing else is read.
        """
        properties = env.get(f"{prefix}CLIENT_PROPERTIES")
        if properties:
            return cls.from_properties(properties)
        username = env.get(f"{prefix}SASL_USERNAME") or None
        password = env.get(f"{prefix}SASL_PASSWORD") or None
        password_file = env.get(f"{prefix}SASL_PASSWORD_FILE")
        if password is None and password_file:
            password = Path(password_file).read_text(encoding="utf-8").strip()
        protocol = env.get(f"{prefix}SECURITY_PROTOCOL") or (
            "SASL_PLAINTEXT" if username else "PLAINTEXT")
        return cls.model_validate({
            "protocol": protocol,
            "mechanism": env.get(f"{prefix}SASL_MECHANISM") or "SCRAM-SHA-512",
            "username": username, "password": password,
            "ssl_cafile": env.get(f"{prefix}SSL_CAFILE") or None})

    @classmethod
    def from_properties(cls, path: Path | str) -> KafkaSecurity:
        """From a Java client properties file as `java_properties()` writes it."""
        import re

        props: dict[str, str] = {}
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            if line.strip() and not line.lstrip().startswith("#") and "=" in line:
                key, _, value = line.partition("=")
                props[key.strip()] = value.strip()
        jaas = props.get("sasl.jaas.config", "")
        user = re.search(r'username="([^"]*)"', jaas)
        secret = re.search(r'password="([^"]*)"', jaas)
        return cls.model_validate({
            "protocol": props.get("security.protocol", "PLAINTEXT"),
            "mechanism": props.get("sasl.mechanism", "SCRAM-SHA-512"),
            "username": user.group(1) if user else None,
            "password": secret.group(1) if secret else None,
            "ssl_cafile": props.get("ssl.truststore.location")})


PLAINTEXT = KafkaSecurity()
