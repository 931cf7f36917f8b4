"""How report tables print their numbers (shared by the HTML and the PDF report, pure).

One rule per kind of column, so that the same number prints the same way everywhere:
shares as percentages, prices with enough decimals for an FX rate, quantities as whole
numbers when they are, and every other amount (P&L, market value, volatility
contribution) in currency units with two decimals. A missing value prints as "—".
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pandas as pd

MISSING = "—"
PRICE_COLUMNS = frozenset({"last_price", "average_cost", "price", "reference_price",
                           "average_fill_price", "fill_vwap"})
QUANTITY_COLUMNS = frozenset({"quantity", "filled_quantity", "events", "days"})


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def format_price(value: float) -> str:
    """``1.3129`` for an FX rate, ``1,514.68`` for a share price or an index level."""
    return f"{value:,.4f}" if abs(value) < 10 else f"{value:,.2f}"


def format_quantity(value: float) -> str:
    """``-165,000`` (whole units), ``0.5000`` for a fractional quantity."""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.4f}"


def formatter_for(column: str) -> Callable[[object], str]:
    """The function that prints one cell of ``column``."""
    if "share" in column:
        number: Callable[[float], str] = lambda v: f"{v:.1%}"  # noqa: E731
    elif column in PRICE_COLUMNS:
        number = format_price
    elif column in QUANTITY_COLUMNS:
        number = format_quantity
    else:
        number = lambda v: f"{v:,.2f}"  # noqa: E731

    def cell(value: object) -> str:
        if _missing(value):
            return MISSING
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return str(value)
        return number(float(value))

    return cell


def formatted(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every cell printed as text by :func:`formatter_for` its column."""
    return pd.DataFrame({column: [formatter_for(str(column))(v) for v in frame[column]]
                         for column in frame.columns}, index=frame.index)
