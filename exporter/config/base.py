"""What every config model shares: strictness, the name pattern and the error type."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

NAME_PATTERN = r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$"  # a DNS-1123 label: names end up in k8s objects


class ConfigError(Exception):
    """A configuration problem, worded as `field: reason`."""


class Strict(BaseModel):
    """Unknown keys are errors and a loaded config never changes."""

    model_config = ConfigDict(extra="forbid", frozen=True)
