"""What every server a collector connects to has: a name, an address, a password source.

The kinds of server (`PostgresTarget`, `RedisTarget`) live in `exporter.config.model`
next to the `Config` fields that list them; redaction, reference checks and the
cluster-secret checks find them all through `Config.targets()`.
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


def no_host(v: str) -> ValueError:
    """The error for an address without a host (password masked)."""
    return ValueError(f"has no host: {redact_url(v)!r}")
