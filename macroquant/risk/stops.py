"""Stop-loss and take-profit per strategy, on the strategy's own target path (pure).

A strategy holds a *position episode* in an instrument from the date its signal takes a
sign (the entry: the target's price that day is the entry price) until the signal's sign
changes (to the other side or to zero). Within an episode, each later date ``t`` compares
the close ``p_t`` with the configured levels (``f`` a fraction, ``k`` a multiple,
``s = k * sigma_daily * entry price`` with the daily return volatility at the entry date):

=====================  =========================  =========================
rule                   long: triggers if          short: triggers if
=====================  =========================  =========================
stop-loss fixed        p_t <= entry * (1 - f)     p_t >= entry * (1 + f)
stop-loss trailing     p_t <= best * (1 - f)      p_t >= best * (1 + f)
stop-loss volatility   p_t <= anchor - s          p_t >= anchor + s
take-profit fixed      p_t >= entry * (1 + f)     p_t <= entry * (1 - f)
take-profit volatility p_t >= entry + s           p_t <= entry - s
=====================  =========================  =========================

``best`` is the highest close since entry for a long (lowest for a short), today's close
included; ``anchor`` is the entry price or ``best``. When both would trigger on the same
date the stop-loss is recorded. **Re-entry rule**: from the trigger date on, the
strategy's target in that instrument is flat until its signal changes sign (a new episode
starts, with a new entry price). Only prices up to ``t`` are used on ``t``; a date with no
observation (NaN signal or price) neither triggers nor ends an episode.

The path dependence over dates is inherent: :func:`apply_stops` loops over dates with
numpy arrays across instruments.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from macroquant.config.settings import FixedStop, StrategyStops, TrailingStop, VolatilityStop

TRADING_DAYS = 252


@dataclass(frozen=True)
class StopTrigger:
    """One stop-loss or take-profit that fired: row ``date_index``, column ``column``."""

    date_index: int
    column: int
    check_name: str          # "stop_loss" or "take_profit"
    kind: str                # "fixed", "trailing" or "volatility"
    side: int                # +1 long, -1 short
    price: float             # the close that triggered
    level: float             # the level it crossed
    entry_index: int
    entry_price: float
    best_price: float


@dataclass(frozen=True)
class StopResult:
    """``flat[t, i]``: the target must be zero on date ``t`` in instrument ``i``."""

    flat: np.ndarray
    triggers: list[StopTrigger]


def _levels(rule: FixedStop | TrailingStop | VolatilityStop, *, loss: bool, side: np.ndarray,
            entry: np.ndarray, best: np.ndarray, distance: np.ndarray) -> np.ndarray:
    """The price level of ``rule`` for each instrument (NaN where it cannot be computed)."""
    away = -side if loss else side  # direction of the level from its anchor
    if isinstance(rule, FixedStop):
        return entry * (1.0 + away * rule.fraction)
    if isinstance(rule, TrailingStop):
        return best * (1.0 + away * rule.fraction)
    anchor = best if rule.anchor == "best" else entry
    return anchor + away * rule.multiple * distance


def apply_stops(direction: np.ndarray, price: np.ndarray, daily_volatility: np.ndarray,
                rules: StrategyStops) -> StopResult:
    """Run the stop rules over a strategy's path (rows: dates in order, columns: instruments).

    ``direction`` is the sign of the strategy's signal (``-1, 0, 1``; NaN where the
    strategy has no target that date), ``price`` the close used for its targets and
    ``daily_volatility`` the instrument's daily return volatility (a fraction). Returns
    which targets must be flat, and every trigger in date order.
    """
    shape = np.shape(direction)
    flat = np.zeros(shape, dtype=bool)
    triggers: list[StopTrigger] = []
    if rules.stop_loss is None and rules.take_profit is None:
        return StopResult(flat, triggers)
    n = shape[1]
    side = np.zeros(n)
    entry = np.full(n, np.nan)
    best = np.full(n, np.nan)
    distance = np.full(n, np.nan)
    entry_index = np.full(n, -1)
    stopped = np.zeros(n, dtype=bool)
    for t in range(shape[0]):
        d, p = direction[t], price[t]
        observed = ~np.isnan(d) & ~np.isnan(p)
        new = observed & (d != side)
        side = np.where(new, d, side)
        entry = np.where(new, p, entry)
        best = np.where(new, p, best)
        distance = np.where(new, daily_volatility[t] * p, distance)
        entry_index = np.where(new, t, entry_index)
        stopped &= ~new
        live = observed & ~new & (side != 0) & ~stopped
        best = np.where(live, np.where(side > 0, np.fmax(best, p), np.fmin(best, p)), best)
        fired = np.zeros(n, dtype=bool)
        for check, rule in (("stop_loss", rules.stop_loss), ("take_profit", rules.take_profit)):
            if rule is None:
                continue
            level = _levels(rule, loss=check == "stop_loss", side=side, entry=entry,
                            best=best, distance=distance)
            # a stop-loss is hit when the close moves against the side; a take-profit, with it
            against = side * (p - level) <= 0 if check == "stop_loss" else side * (p - level) >= 0
            hit = live & ~fired & ~np.isnan(level) & against
            for i in np.flatnonzero(hit):
                triggers.append(StopTrigger(
                    date_index=t, column=int(i), check_name=check, kind=rule.kind,
                    side=int(side[i]), price=float(p[i]), level=float(level[i]),
                    entry_index=int(entry_index[i]), entry_price=float(entry[i]),
                    best_price=float(best[i])))
            fired |= hit
        stopped |= fired
        flat[t] = stopped & (side != 0)
    return StopResult(flat, triggers)


def annualised_to_daily(volatility: np.ndarray) -> np.ndarray:
    """Daily return volatility from an annualised one (252 trading days)."""
    return np.asarray(volatility, dtype=float) / np.sqrt(TRADING_DAYS)


TRIGGER_COLUMNS = ["as_of", "symbol", "check_name", "kind", "side", "price", "level",
                   "entry_date", "entry_price", "best_price"]


def stop_targets(path: pd.DataFrame, rules: StrategyStops,
                 first_date: pd.Timestamp) -> tuple[pd.Series, pd.DataFrame]:
    """Apply ``rules`` to one strategy's target path (long rows ``as_of, symbol,
    signal_strength, price, instrument_volatility`` — the annualised volatility, as stored
    in ``targets``), from its first date so that episodes begun earlier are known.

    Returns ``(flat, triggers)`` for the dates from ``first_date`` on: ``flat`` is a boolean
    Series indexed by ``(as_of, symbol)`` (True: the target must be zero) and ``triggers``
    has :data:`TRIGGER_COLUMNS`.
    """
    wide = path.assign(as_of=pd.to_datetime(path["as_of"])).pivot_table(
        index="as_of", columns="symbol", aggfunc="last",
        values=["signal_strength", "price", "instrument_volatility"]).sort_index()
    if wide.empty:
        return (pd.Series(dtype=bool, index=pd.MultiIndex.from_arrays([[], []],
                                                                       names=["as_of", "symbol"])),
                pd.DataFrame(columns=TRIGGER_COLUMNS))
    dates, symbols = wide.index, wide["price"].columns
    result = apply_stops(
        np.sign(wide["signal_strength"].reindex(columns=symbols).to_numpy(float)),
        wide["price"].to_numpy(float),
        annualised_to_daily(wide["instrument_volatility"].reindex(columns=symbols)
                            .to_numpy(float)), rules)
    flat = pd.DataFrame(result.flat, index=dates, columns=symbols).stack()
    flat = flat[flat.index.get_level_values(0) >= first_date].rename_axis(["as_of", "symbol"])
    rows = [(dates[x.date_index], symbols[x.column], x.check_name, x.kind, x.side, x.price,
             x.level, dates[x.entry_index], x.entry_price, x.best_price)
            for x in result.triggers if dates[x.date_index] >= first_date]
    return flat, pd.DataFrame(rows, columns=TRIGGER_COLUMNS)
