"""Kubernetes `resource.Quantity` strings (DecimalSI): served metric values and HPA targets.

Two formatters, on purpose: `format_quantity` for values this API serves (rounded to milli,
canonical suffix, non-finite refused, negatives clamped) and `format_exact_quantity` for
targets a person wrote in the config (written exactly, so the generated HPA says what the
config says).

The HPA reads values with `Quantity.MilliValue()`, so values are rounded to the nearest
thousandth and written the way Go's Quantity canonicalises them: the largest power-of-1000
suffix that keeps the mantissa an integer (1.5 -> "1500m", 2 -> "2", 2000 -> "2k",
1500 -> "1500", 0.0004 -> "0").

Values that cannot honestly be written (policy, tested in test_metrics_api_units):
- NaN, +/-Inf and values beyond +/-9.2e15 (`exporter.values`) raise `UnrepresentableValue`: the caller treats the source as unavailable
  (fallback value or 503), because there is no number that means "unknown".
- negative finite values are clamped to 0: every value this API serves (queue depth, age,
  utilisation, in-flight requests) is non-negative, a negative reading is a counter reset
  or a bad query, and 0 gives the HPA the same decision as any negative (scale to minimum).
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal

from exporter.values import InvalidValue, checked

_SUFFIX = {-3: "m", 0: "", 3: "k", 6: "M", 9: "G", 12: "T", 15: "P", 18: "E"}
_PARSE = re.compile(r"^([+-]?[0-9]*\.?[0-9]+|[+-]?[0-9]+\.)(n|u|m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
_SCALE = {
    "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1),
    "k": Decimal("1e3"), "M": Decimal("1e6"), "G": Decimal("1e9"), "T": Decimal("1e12"),
    "P": Decimal("1e15"), "E": Decimal("1e18"), "Ki": Decimal(2**10), "Mi": Decimal(2**20),
    "Gi": Decimal(2**30), "Ti": Decimal(2**40), "Pi": Decimal(2**50), "Ei": Decimal(2**60),
}  # fmt: skip


class UnrepresentableValue(ValueError):
    """NaN or an infinity: no Quantity means that."""


def format_quantity(value: float) -> str:
    """A float as a canonical Kubernetes Quantity string (milli precision)."""
    try:
        value = checked(value)
    except InvalidValue as exc:
        raise UnrepresentableValue(f"cannot be served as a Kubernetes quantity: {exc}") from None
    if value <= 0:
        return "0"
    # Decimal(repr) keeps 0.1 as 0.1 rather than its binary expansion.
    milli = int((Decimal(repr(value)) * 1000).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    if milli == 0:
        return "0"
    exponent = -3
    while milli % 1000 == 0 and exponent < 18:
        milli //= 1000
        exponent += 3
    return f"{milli}{_SUFFIX[exponent]}"


def parse_quantity(text: str) -> float:
    """A Quantity string ("1500m", "2k", "1Gi", "1e3" excepted) as a float."""
    match = _PARSE.match(text.strip())
    if not match:
        raise ValueError(f"not a quantity: {text!r}")
    return float(Decimal(match.group(1)) * _SCALE[match.group(2) or ""])


def format_exact_quantity(value: float) -> str:
    """A configured value as a Quantity without rounding: 10 -> "10", 0.5 -> "500m",
    0.0005 -> "0.0005", 2000 -> "2000" (no k/M suffix). Used for HPA targets."""
    if value == int(value):
        return str(int(value))
    milli = Decimal(repr(value)) * 1000
    if milli == milli.to_integral_value():
        return f"{int(milli)}m"
    return format(Decimal(repr(value)), "f")
