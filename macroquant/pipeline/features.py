"""Stage 3 — features: compute every feature the strategies and the sizing need.

Input: ``market_data`` (all history up to the window's end: raw and back-adjusted closes,
and back-adjusted open/high/low when a bar or candlestick feature is asked for), the
strategy YAML files and the trading configuration (which features are needed).
Output: ``features`` rows ``(as_of, instrument_id, feature, value)`` for the window's
sessions.
Idempotency key: ``as_of`` in the window (rows replaced).

Each feature is computed over the instrument's whole history up to ``end``, so the value
for a date is the same whether it was computed by a daily run or inside a backfill
(recursive EWMAs would otherwise depend on where the read started).
"""

from __future__ import annotations

import pandas as pd

from macroquant.db.bulk import copy_rows
from macroquant.db.connection import transaction
from macroquant.features.catalog import compute_features, feature_name, needs_bars
from macroquant.pipeline.context import StageContext
from macroquant.pipeline.signals import load_market_panels
from macroquant.strategies.loader import load_strategies


def required_feature_names(context: StageContext) -> set[str]:
    """Features asked for by the enabled strategies, plus what sizing needs."""
    names = {"price", feature_name("return_volatility", context.trading.portfolio.volatility_span)}
    for loaded in load_strategies(context.settings.strategies_dir):
        names |= loaded.strategy.required_features()
    return names


def run(context: StageContext) -> dict[str, int]:
    """Compute and store the window's features."""
    names = required_feature_names(context)
    with transaction(context.url) as conn:
        raw, adjusted, bars = load_market_panels(conn, context.end, needs_bars(names))
        window = pd.DatetimeIndex(pd.to_datetime(context.sessions))
        frames = []
        for name, panel in compute_features(names, raw, adjusted, bars).items():
            long = panel.reindex(window).stack().rename("value").reset_index()
            long.columns = ["as_of", "instrument_id", "value"]
            long["feature"] = name
            frames.append(long)
        rows = (pd.concat(frames, ignore_index=True) if frames
                else pd.DataFrame(columns=["as_of", "instrument_id", "value", "feature"]))
        rows = rows.dropna(subset=["value"]).sort_values(["as_of", "instrument_id", "feature"])
        conn.execute("DELETE FROM features WHERE as_of BETWEEN %s AND %s",
                     (context.start, context.end))
        written = copy_rows(conn, "features", rows, ["as_of", "instrument_id", "feature", "value"])
    return {"features": written}
