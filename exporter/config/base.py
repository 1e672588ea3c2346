"""What every config model shares: strictness, the name pattern and the error type."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from exporter.values import QUANTITY_MAX

# Kubernetes stores replica counts and policy values as int32, and serves quantities the HPA
# reads as int64 thousandths (exporter.values.QUANTITY_MAX): the config stays within both, so
# whatever check-config accepts every generator and the API server accept too.
INT32_MAX = 2**31 - 1
__all__ = ["INT32_MAX", "NAME_PATTERN", "QUANTITY_MAX", "ConfigError", "Strict"]
NAME_PATTERN = r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$"  # a DNS-1123 label: names end up in k8s objects


class ConfigError(Exception):
    """A configuration problem, worded as `field: reason`."""


class Strict(BaseModel):
    """Unknown keys are errors, floats are finite and a loaded config never changes."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, defer_build=True)
