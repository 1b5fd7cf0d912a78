"""Numbers as a person reads them: plain fixed notation, never ``1.234e+04``.

Tables, the console, report.html and compare/plot output print figures through :func:`plain_number`;
machine artifacts (profile_export.json, the JSONL and CSV data) keep full precision and never use it.
"""

from __future__ import annotations

import math


def plain_number(value: float, significant: int = 4, *, grouping: bool = True) -> str:
    """``value`` in fixed notation with about ``significant`` significant figures and trailing zeros
    dropped: ``0.1235``, ``12.35``, ``1,235``, ``12,346`` (digits left of the point are never cut, so a
    large value keeps all of them), ``0.00001235`` (never ``1.235e-05``). ``grouping`` adds thousands
    separators. NaN and infinities print as ``nan``, ``inf`` and ``-inf``; ``-0`` prints as ``0``."""
    number = float(value)
    if not math.isfinite(number):
        return str(number)
    if number == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(number)))
    decimals = max(0, significant - 1 - magnitude)
    text = f"{number:{',' if grouping else ''}.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text
