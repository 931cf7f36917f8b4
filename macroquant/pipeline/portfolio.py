"""Stage 5 — portfolio: size each strategy's signals by volatility targeting and net them.

Input: ``signals``, ``strategies`` (weights, universes), ``features`` (``price`` and
``return_volatility:<span>``), ``instruments`` (lot sizes), the trading configuration.
Output: ``targets`` (per strategy and instrument, unrounded) and ``portfolio_targets`` (net
quantity per instrument rounded to whole lots; ``approved_quantity`` left empty for the
risk stage). Every instrument of an enabled universe that has a price gets a row, so a
signal that disappears becomes a target of zero.
Idempotency key: ``as_of`` in the window (both tables replaced).
"""

from __future__ import annotations

import pandas as pd

from macroquant.db.bulk import copy_rows, read_frame
from macroquant.db.connection import transaction
from macroquant.features.catalog import feature_name
from macroquant.pipeline.context import StageContext
from macroquant.portfolio.sizing import round_to_lot, volatility_target_notional

TARGET_COLUMNS = ["as_of", "strategy_id", "instrument_id", "signal_strength",
                  "instrument_volatility", "price", "target_notional", "target_quantity"]
PORTFOLIO_COLUMNS = ["as_of", "instrument_id", "price", "target_quantity", "target_notional"]


def run(context: StageContext) -> dict[str, int]:
    """Size and net the window's signals into portfolio targets."""
    config = context.trading
    volatility = feature_name("return_volatility", config.portfolio.volatility_span)
    window = (context.start, context.end)
    with transaction(context.url) as conn:
        strategies = read_frame(conn, """SELECT strategy_id, name, config FROM strategies
                                         WHERE enabled ORDER BY name""")
        signals = read_frame(conn, """SELECT as_of, strategy_id, instrument_id, strength
                                      FROM signals WHERE as_of BETWEEN %s AND %s""", window)
        market = read_frame(conn, """SELECT as_of, instrument_id,
                                            max(value) FILTER (WHERE feature = 'price') AS price,
                                            max(value) FILTER (WHERE feature = %s) AS volatility
                                     FROM features WHERE as_of BETWEEN %s AND %s
                                       AND feature IN ('price', %s)
                                     GROUP BY as_of, instrument_id""",
                             (volatility, *window, volatility))
        instruments = read_frame(conn, "SELECT instrument_id, symbol, lot_size FROM instruments")
        symbol_ids = dict(zip(instruments["symbol"], instruments["instrument_id"], strict=True))

        sized, universe = [], set()
        for strategy in strategies.itertuples():
            members = [symbol_ids[s] for s in strategy.config["universe"] if s in symbol_ids]
            universe.update(members)
            rows = signals[signals["strategy_id"] == strategy.strategy_id].merge(
                market, on=["as_of", "instrument_id"], how="inner")
            rows["target_notional"] = volatility_target_notional(
                rows["strength"], rows["volatility"], capital=config.trading_capital,
                weight=strategy.config["weight"],
                annual_volatility_target=config.portfolio.annual_volatility_target,
                n_instruments=len(strategy.config["universe"]))
            rows["target_quantity"] = rows["target_notional"] / rows["price"]
            sized.append(rows.dropna(subset=["target_quantity"]))
        targets = pd.concat(sized, ignore_index=True) if sized else pd.DataFrame(
            columns=[*signals.columns, "price", "volatility", "target_notional", "target_quantity"])
        targets = targets.rename(columns={"strength": "signal_strength",
                                          "volatility": "instrument_volatility"})

        tradable = market[market["instrument_id"].isin(universe) & market["price"].notna()]
        net = targets.groupby(["as_of", "instrument_id"], as_index=False)["target_quantity"].sum()
        book = tradable[["as_of", "instrument_id", "price"]].merge(
            net, on=["as_of", "instrument_id"], how="left").fillna({"target_quantity": 0.0})
        lots = book["instrument_id"].map(dict(zip(instruments["instrument_id"],
                                                  instruments["lot_size"], strict=True)))
        book["target_quantity"] = round_to_lot(book["target_quantity"], lots) + 0.0
        book["target_notional"] = book["target_quantity"] * book["price"]

        conn.execute("DELETE FROM targets WHERE as_of BETWEEN %s AND %s", window)
        conn.execute("DELETE FROM portfolio_targets WHERE as_of BETWEEN %s AND %s", window)
        written_targets = copy_rows(conn, "targets",
                                    targets.sort_values(["as_of", "strategy_id", "instrument_id"]),
                                    TARGET_COLUMNS)
        written_book = copy_rows(conn, "portfolio_targets",
                                 book.sort_values(["as_of", "instrument_id"]), PORTFOLIO_COLUMNS)
    return {"targets": written_targets, "portfolio_targets": written_book}
