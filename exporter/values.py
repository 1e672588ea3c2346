"""The one check every number passes before it reaches a metric or a metrics-API answer.

A value must be finite and within what a Kubernetes `resource.Quantity` can carry to the
HPA: the controller reads `MilliValue()`, an int64 of thousandths, so |value| must not
exceed (2**63 - 1) / 1000 (about 9.2e15). Anything else (NaN, +/-Inf, 1e308, a job age of
1e30 computed from a garbage timestamp) is `InvalidValue`: the series is left out (so a
value made of it is unavailable) rather than written as a number nobody can act on.
"""

from __future__ import annotations

import math

QUANTITY_MAX = (2**63 - 1) / 1000


class InvalidValue(ValueError):
    """A number that is not finite or is beyond what a Quantity can carry."""


def checked(value: float) -> float:
    """`value` as a float when it is finite and within +/-QUANTITY_MAX, else InvalidValue."""
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise InvalidValue(f"not a number: {str(value)[:40]!r}") from None
    if not math.isfinite(number):
        raise InvalidValue(f"{number} is not a finite number")
    if abs(number) > QUANTITY_MAX:
        raise InvalidValue(f"{number:g} is beyond what a Kubernetes quantity can carry")
    return number
