"""The servers collectors connect to: one `Target` shape, one subclass per kind of server.

A target kind is a `Target` subclass plus a `list[...]` field on `Config`; redaction,
reference checks and the cluster-secret checks find it through `Config.targets()`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar
from urllib.parse import SplitResult, urlsplit

from pydantic import (
    Field,
    SecretStr,
    SerializerFunctionWrapHandler,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)

from exporter.config.base import NAME_PATTERN, Strict
from exporter.config.secrets import read_secret_env, read_secret_file, redact_url


class Target(Strict):
    """A named server with an address (a URL or DSN) and an optional password source.

    `address_field` is the YAML key holding the address (`dsn`, `url`); it may carry an
    inline password, so everything shown to people goes through `safe_address`/`redacted`.
    """

    address_field: ClassVar[str]

    name: Annotated[str, Field(pattern=NAME_PATTERN)]
    password_file: str | None = None
    password_env: str | None = None

    @property
    def address(self) -> str:
        return getattr(self, self.address_field)

    @property
    def safe_address(self) -> str:
        return redact_url(self.address)

    def password(self, environ: Mapping[str, str] | None = None) -> SecretStr | None:
        """The password from password_file / password_env, read at call time (files rotate).

        Raises ValueError naming the field when the file is unreadable or the env var unset.
        """
        if self.password_file:
            return read_secret_file(self.password_file, "password_file")
        if self.password_env:
            return read_secret_env(self.password_env, "password_env", environ)
        return None

    def redacted(self) -> dict[str, Any]:
        """The target as plain data with the address's password masked."""
        data = self.model_dump(mode="json")
        data[self.address_field] = self.safe_address
        return data

    @model_validator(mode="after")
    def _secret_readable(self, info: ValidationInfo) -> Target:
        """Fail at load time, naming the field, when a secret source is missing."""
        if self.password_file and self.password_env:
            raise ValueError("set password_file or password_env, not both")
        self.password((info.context or {}).get("environ"))
        return self

    @model_serializer(mode="wrap")
    def _address_second(self, handler: SerializerFunctionWrapHandler) -> Any:
        # Dumped as users write it (name, address, the rest): check-config and the
        # generated ConfigMaps keep their key order.
        data = handler(self)
        if not isinstance(data, dict) or self.address_field not in data:
            return data
        head = {k: data[k] for k in ("name", self.address_field) if k in data}
        return head | {k: v for k, v in data.items() if k not in head}


def checked_url(v: str, schemes: tuple[str, ...], wording: str) -> SplitResult:
    """`v` split, or ValueError (with the password masked) for a wrong scheme or bad port."""
    parts = urlsplit(v)
    if parts.scheme not in schemes:
        raise ValueError(wording.format(scheme=parts.scheme or "none", url=redact_url(v)))
    try:
        parts.port  # noqa: B018 - raises on a non-numeric port
    except ValueError:
        raise ValueError(f"has an invalid port: {redact_url(v)!r}") from None
    return parts


def _no_host(v: str) -> ValueError:
    return ValueError(f"has no host: {redact_url(v)!r}")


class PostgresTarget(Target):
    address_field = "dsn"

    dsn: str
    pool_size: Annotated[int, Field(ge=1, le=10)] = 2

    @field_validator("dsn")
    @classmethod
    def _dsn_shape(cls, v: str) -> str:
        parts = checked_url(
            v,
            ("postgresql", "postgres"),
            "must be a postgresql:// URL, got scheme {scheme!r} in {url!r}",
        )
        if not parts.hostname and "host=" not in parts.query:
            raise _no_host(v)
        return v

    @property
    def safe_dsn(self) -> str:
        return self.safe_address


class RedisTarget(Target):
    address_field = "url"

    url: str

    @field_validator("url")
    @classmethod
    def _url_shape(cls, v: str) -> str:
        parts = checked_url(
            v,
            ("redis", "rediss", "unix"),
            "must be a redis://, rediss:// or unix:// URL, got {url!r}",
        )
        if parts.scheme != "unix" and not parts.hostname:
            raise _no_host(v)
        return v

    @property
    def safe_url(self) -> str:
        return self.safe_address
