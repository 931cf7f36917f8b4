"""Checks of the trading configuration against the strategy folder (pure).

- :func:`check_stops`: every ``stops`` key names a strategy file of the folder (or is
  ``default``); otherwise a :class:`ConfigError` naming the configuration file and the key.
  Runs before any stage writes (``macroquant.pipeline.book.check_book_configuration``) and
  in ``macroquant strategies validate``.
- :func:`limit_warnings`: count and amount limits that would bind on most orders of this
  book, for ``macroquant strategies validate --as-set``.
"""

from __future__ import annotations

from pathlib import Path
from statistics import median

from macroquant.config.settings import DEFAULT_STOPS, TradingConfig
from macroquant.errors import ConfigError
from macroquant.strategies.loader import LoadedStrategy

# Annual volatility assumed for an instrument when estimating position sizes without data
# (a broad equity index runs at about 15-20 %, FX at about 10 %, single stocks at 25-30 %).
REFERENCE_VOLATILITY = 0.16
# A typical position is about half a full-strength one (average |strength| is 0.38 on the
# demo year, docs/strategies.md); a rebalancing order is smaller than the position.
TYPICAL_STRENGTH = 0.5


def check_stops(trading: TradingConfig, book: list[LoadedStrategy], config_path: Path,
                strategies_dir: Path) -> None:
    """Raise unless every ``stops`` key is ``default`` or the name of a strategy file."""
    names = {item.config.name for item in book}
    unknown = sorted(set(trading.stops) - names - {DEFAULT_STOPS})
    if unknown:
        raise ConfigError(str(config_path), f"stops.{unknown[0]}",
                          f"no strategy is named '{unknown[0]}' in {strategies_dir} "
                          f"(its strategies: {', '.join(sorted(names))}); name one of them, "
                          f"or use '{DEFAULT_STOPS}' for every strategy")


def book_instruments(book: list[LoadedStrategy]) -> list[str]:
    """The symbols the enabled strategies trade (the union of their universes)."""
    return sorted({s for item in book if item.config.enabled for s in item.config.universe})


def full_positions(trading: TradingConfig, book: list[LoadedStrategy]) -> dict[str, float]:
    """Estimated full-strength notional per instrument: the sum over the enabled strategies
    trading it of ``capital × weight × volatility target / (universe size × 16 %)``."""
    target = trading.portfolio.annual_volatility_target
    out: dict[str, float] = {}
    for item in book:
        if not item.config.enabled:
            continue
        universe = item.config.universe
        each = (trading.trading_capital * item.config.weight * target
                / (len(universe) * REFERENCE_VOLATILITY))
        for symbol in universe:
            out[symbol] = out.get(symbol, 0.0) + each
    return out


def limit_warnings(trading: TradingConfig, book: list[LoadedStrategy],
                   config_path: Path) -> list[str]:
    """One line per limit that would bind on most orders of this book."""
    instruments = book_instruments(book)
    if not instruments:
        return []
    lines = []
    risk = trading.for_book(len(instruments)).risk
    if risk.max_orders_per_day < len(instruments):
        lines.append(
            f"{config_path}: risk.max_orders_per_day {risk.max_orders_per_day} is below the "
            f"book's {len(instruments)} instruments: on a day most of them trade (the first "
            f"day of a book sends one order per instrument) about "
            f"{1 - risk.max_orders_per_day / len(instruments):.0%} of the orders are "
            "rejected; set risk.max_orders_per_instrument (e.g. 1.5) to scale it with the "
            "book, or raise it")
    typical = median(full_positions(trading, book).values()) * TYPICAL_STRENGTH
    minimum = trading.portfolio.min_order_notional
    if minimum > typical:
        lines.append(
            f"{config_path}: portfolio.min_order_notional {minimum:,.0f} is above the typical "
            f"position of this book's instruments (about {typical:,.0f}: capital x weight x "
            f"volatility target / universe size at {REFERENCE_VOLATILITY:.0%} volatility, at "
            f"half strength): most orders would be too small to send; lower it to a small "
            f"fraction of that (e.g. {typical / 10:,.0f})")
    return lines
