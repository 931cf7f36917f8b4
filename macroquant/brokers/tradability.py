"""Where an instrument trades: each broker account says which asset classes it can trade
(its options' ``asset_classes``) and under which symbol (``symbol_map``).

An instrument outside the account's asset classes (an index such as SPX, a yield, an FX
pair on an equities broker) is refused before anything is sent, with the reason; the rest
of the book still trades. Pure: no I/O.
"""

from __future__ import annotations

from typing import Literal

AssetClass = Literal["equity_index", "single_stock", "fx", "commodity", "volatility",
                     "rates_credit", "crypto"]
ALL_ASSET_CLASSES: tuple[AssetClass, ...] = (
    "equity_index", "single_stock", "fx", "commodity", "volatility", "rates_credit", "crypto")

# What each adapter can send as it is written: Alpaca and IBKR orders are stock orders
# (IBKR builds a ``Stock`` contract), ccxt trades crypto pairs; the paper broker simulates
# every class. Indices, yields and volatility indices are never tradable on a live broker:
# trade a fund or future that tracks them (a separate instrument).
DEFAULT_ASSET_CLASSES: dict[str, tuple[AssetClass, ...]] = {
    "paper": ALL_ASSET_CLASSES,
    "alpaca": ("single_stock",),
    "ibkr": ("single_stock",),
    "ccxt": ("crypto",),
}


def refusal_reason(broker: str, tradable: frozenset[str], symbol: str,
                   asset_class: str) -> str | None:
    """Why ``broker`` cannot trade ``symbol`` (of ``asset_class``), or None when it can."""
    if asset_class in tradable:
        return None
    allowed = ", ".join(sorted(tradable)) or "none"
    return (f"not tradable on {broker}: {symbol} is {asset_class or 'of no asset class'} "
            f"(the account trades {allowed}; set broker.options.asset_classes)")
