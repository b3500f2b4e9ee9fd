"""The `[mqtt]` and `[homeassistant]` config sections: the broker, the session, the outbox, HA."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Self
from urllib.parse import urlsplit

from pydantic import (
    Field,
    GetCoreSchemaHandler,
    PrivateAttr,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_core import core_schema

from boiler_agent.config.fields import (
    NAME_ALLOWED,
    TOPIC_ALLOWED,
    BlameError,
    Name,
    Section,
    Topic,
    field_doc,
    path_exists,
)
from boiler_agent.telemetry.topics import DEFAULT_ROOT

MQTT_DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}
URL_FORMS = "mqtt://host[:port] or mqtts://host[:port]"


class BrokerUrl(str):
    """A broker URL as written (it is a str), parsed once when made: `host`, `port`, `tls`.

    `BrokerUrl(text)` raises ValueError saying what is wrong; `mqtt.url` is one, so the client
    connects with its parts and logs the URL itself without parsing it again.
    """

    host: str
    port: int
    tls: bool

    def __new__(cls, url: str) -> Self:
        parts = urlsplit(url)
        if parts.scheme not in MQTT_DEFAULT_PORTS:
            raise ValueError(
                f"scheme must be mqtt or mqtts, got {parts.scheme!r}"
                if parts.scheme
                else f"must be {URL_FORMS}"
            )
        if parts.username is not None or parts.password is not None:
            raise ValueError("must not carry credentials: use mqtt.username and mqtt.password")
        if not parts.hostname:
            raise ValueError(f"names no host: must be {URL_FORMS}")
        try:
            port = parts.port
        except ValueError:
            port = 0
        if port == 0 or parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ValueError(f"must be {URL_FORMS}, port 1..65535")
        self = super().__new__(cls, url)
        # Set once here; __setattr__ refuses afterwards, as a str never changes.
        self.__dict__.update(
            host=parts.hostname,
            port=port or MQTT_DEFAULT_PORTS[parts.scheme],
            tls=parts.scheme == "mqtts",
        )
        return self

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"a BrokerUrl does not change: cannot set {name}")

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        # Validated from a string, dumped as one: files, digests and JSON see the plain URL.
        return core_schema.no_info_after_validator_function(
            cls,
            core_schema.str_schema(),
            serialization=core_schema.to_string_ser_schema(when_used="always"),
        )


def read_secret(path: Path) -> str:
    """A password file's text without its trailing newline; ValueError saying why not."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the name, not UTF-8
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ValueError(f"cannot be read: {reason}") from None
    secret = text.rstrip("\r\n")
    if not secret:
        raise ValueError("is empty")
    return secret


class MqttConfig(Section):
    enabled: bool = Field(
        default=True,
        description="Talk to an MQTT broker. Off: telemetry only accumulates in the outbox.",
    )
    url: BrokerUrl = Field(
        default=BrokerUrl("mqtt://127.0.0.1:1883"),
        description=(
            "The broker: mqtt://host[:port] (port 1883 by default) or mqtts://host[:port] "
            "for TLS (8883). Credentials go in username and password, never in the URL."
        ),
        json_schema_extra=field_doc(URL_FORMS),
    )
    username: str | None = Field(
        default=None,
        description="User name for the broker.",
        json_schema_extra=field_doc(example="heater"),
    )
    password: SecretStr | None = Field(
        default=None,
        description=(
            "Password for the broker. Never printed. Prefer password_file, or the "
            "environment variable, over writing it here."
        ),
        json_schema_extra=field_doc("a string, or unset; not with password_file", "change-me"),
    )
    password_file: Path | None = Field(
        default=None,
        description=(
            "File holding the broker password (e.g. a systemd credential), read at load; "
            "a trailing newline is dropped."
        ),
        json_schema_extra=field_doc(
            "a path to a readable file, or unset; not with password",
            "/etc/boiler-agent/mqtt-password",
        ),
    )
    ca_file: Path | None = Field(
        default=None,
        description="CA certificates for the broker's TLS certificate (mqtts:// only). "
        "Unset: the system's CAs.",
        json_schema_extra=field_doc(
            "a path to an existing file, or unset", "/etc/boiler-agent/ca.pem"
        ),
    )
    cert_file: Path | None = Field(
        default=None,
        description="Client certificate for TLS client authentication; needs key_file.",
        json_schema_extra=field_doc(
            "a path to an existing file, or unset", "/etc/boiler-agent/client.pem"
        ),
    )
    key_file: Path | None = Field(
        default=None,
        description="Private key of cert_file.",
        json_schema_extra=field_doc(
            "a path to an existing file, or unset", "/etc/boiler-agent/client.key"
        ),
    )
    client_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        description="MQTT client id. Unset: boiler-agent-<heater.id>.",
        json_schema_extra=field_doc(example="boiler-agent-kitchen-1"),
    )
    keepalive_s: int = Field(
        default=30,
        ge=5,
        le=3600,
        description="Keep-alive interval; a dead link is noticed in 1.5×.",
    )
    session_expiry_s: int = Field(
        default=3600,
        ge=0,
        le=4294967295,
        description=(
            "How long the broker keeps the session (and queued commands) after a disconnect."
        ),
    )
    will_delay_s: int = Field(
        default=10,
        ge=0,
        le=3600,
        description="Delay before the broker publishes the offline will: rides out short blips.",
    )
    topic_root: Topic = Field(
        default=DEFAULT_ROOT,
        description="Versioned root of the topic tree: <topic_root>/<fleet>/<heater.id>/...",
        json_schema_extra=field_doc(TOPIC_ALLOWED),
    )
    telemetry_period_s: float = Field(
        default=10.0, ge=1, le=3600, description="How often a telemetry message is published."
    )
    job_pool: Name = Field(
        default="default",
        description="Shared-subscription group jobs are taken from: $share/<job_pool>/...",
        json_schema_extra=field_doc(NAME_ALLOWED),
    )
    outbox_max_mb: float = Field(
        default=64.0,
        gt=0,
        le=100000,
        description="Largest size of the on-disk outbox; beyond it the oldest messages go.",
    )
    outbox_max_age_h: float = Field(
        default=168.0,
        gt=0,
        le=8760,
        description="Messages older than this are dropped from the outbox unsent.",
    )
    _password_from_file: SecretStr | None = PrivateAttr(None)

    def resolved_password(self) -> SecretStr | None:
        """The password, from the config or read from password_file at load."""
        return self.password if self.password is not None else self._password_from_file

    @field_validator("password_file")
    @classmethod
    def _password_file(cls, value: Path | None) -> Path | None:
        if value is not None:
            read_secret(value)  # kept by _credentials_and_tls once every key is valid
        return value

    @field_validator("ca_file", "cert_file", "key_file")
    @classmethod
    def _exists(cls, value: Path | None) -> Path | None:
        if value is not None and not path_exists(value, Path.is_file):
            raise ValueError("must be an existing file")
        return value

    @model_validator(mode="after")
    def _credentials_and_tls(self) -> Self:
        if self.password is not None and self.password_file is not None:
            message = "not with mqtt.password: pick one"
            raise BlameError("password_file", self.password_file, message, others=["password"])
        if self.password_file is not None:
            self._password_from_file = SecretStr(read_secret(self.password_file))
        if self.resolved_password() is not None and self.username is None:
            message = "must be set when a password is"
            raise BlameError("username", None, message, others=["password", "password_file"])
        for name in ("ca_file", "cert_file", "key_file"):
            path: Path | None = getattr(self, name)
            if path is not None and not self.url.tls:
                message = f"TLS files need an mqtts:// url, not {self.url!r}"
                raise BlameError(name, path, message, others=["url"])
        if (self.cert_file is None) != (self.key_file is None):
            missing = "key_file" if self.key_file is None else "cert_file"
            message = "cert_file and key_file go together: set both"
            raise BlameError(missing, None, message, others=["cert_file", "key_file"])
        return self


class HomeAssistantConfig(Section):
    discovery: bool = Field(
        default=True,
        description="Publish Home Assistant MQTT discovery: the heater appears as a climate "
        "entity with sensors.",
    )
    prefix: Topic = Field(
        default="homeassistant",
        description="Home Assistant's discovery prefix.",
        json_schema_extra=field_doc(TOPIC_ALLOWED),
    )
    name: str | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="The device's name in Home Assistant, e.g. 'Living room heater' "
        "(default: the heater id).",
    )
