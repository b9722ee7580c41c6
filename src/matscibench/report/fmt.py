"""How numbers are written in every report format."""

from __future__ import annotations

import math

__all__ = ["fmt_value"]


def fmt_value(x: float) -> str:
    """Four significant digits, plain notation between 1e-3 and 1e6."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if math.isinf(x):
        return "∞" if x > 0 else "-∞"
    ax = abs(x)
    if ax != 0 and (ax < 1e-3 or ax >= 1e6):
        return f"{x:.3e}"
    if ax >= 1000:
        return f"{x:,.0f}"
    return f"{x:.4g}"
