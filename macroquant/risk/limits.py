"""Pre-trade limits on portfolio targets (pure, vectorised over dates and instruments).

Applied in this order, each step on the result of the previous one (so every step only
shrinks positions), each recorded as a risk event:

1. ``max_position``: ``|quantity * price| <= max_position_fraction * capital`` per
   instrument; larger targets are clipped (toward zero, to whole lots).
2. ``asset_class_cap``: per date and configured asset class,
   ``sum |notional| of the class <= asset_class_max_gross[class] * capital``; a larger
   class is scaled down proportionally.
3. ``max_gross_leverage``: ``sum |notional| <= max_gross_leverage * capital`` per date; a
   larger book is scaled down proportionally.
4. ``max_net_leverage``: ``|sum notional| <= max_net_leverage * capital`` per date; when
   breached only the side in excess (the longs of a net-long book) is scaled down, by the
   factor that brings the net to the limit, so hedges are kept. It comes last because
   whole-lot truncation in the earlier steps can shift the net; it only shrinks positions,
   so the earlier limits stay met.

Every scaling truncates toward zero to whole lots: nothing is enlarged or flipped. At the
target level the limits refer to trading capital (the order gate applies the same keys to
the account's equity).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from macroquant.config.settings import TradingConfig
from macroquant.portfolio.sizing import truncate_to_lot

EVENT_COLUMNS = ["as_of", "check_name", "subject", "outcome", "limit_value",
                 "observed_value", "reason"]


def _group_sum(keys: list[pd.Series], values: np.ndarray) -> np.ndarray:
    """Per-row sum of ``values`` over the rows sharing ``keys``."""
    return pd.Series(values).groupby([k.to_numpy() for k in keys]).transform("sum").to_numpy()


def _position_step(out: pd.DataFrame, quantity: np.ndarray, capital: float,
                   fraction: float) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    price, lot = out["price"].to_numpy(float), out["lot_size"].to_numpy(float)
    max_notional = fraction * capital
    notional = np.abs(quantity * price)
    over = notional > max_notional + 1e-9
    clipped = np.where(over, truncate_to_lot(np.sign(quantity) * max_notional / price, lot),
                       quantity)
    reasons = [f"{s}: |notional| {n:,.0f} above {max_notional:,.0f}; clipped" if o else ""
               for s, n, o in zip(out["symbol"], notional, over, strict=True)]
    events = pd.DataFrame({
        "as_of": out["as_of"].to_numpy(), "check_name": "max_position",
        "subject": out["symbol"].to_numpy(), "outcome": np.where(over, "clip", "pass"),
        "limit_value": max_notional, "observed_value": notional, "reason": reasons})
    return clipped, over, events


def _asset_class_step(out: pd.DataFrame, quantity: np.ndarray, capital: float,
                      caps: Mapping[str, float]) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    if not caps:
        return quantity, np.zeros(len(out), dtype=bool), pd.DataFrame(columns=EVENT_COLUMNS)
    price, lot = out["price"].to_numpy(float), out["lot_size"].to_numpy(float)
    asset_class = out["asset_class"]
    cap = asset_class.map(dict(caps)).to_numpy(float)  # NaN: class without a cap
    gross = _group_sum([out["as_of"], asset_class], np.abs(quantity * price)) / capital
    over = ~np.isnan(cap) & (gross > cap + 1e-12)
    scale = np.where(over, cap / np.where(gross > 0, gross, 1.0), 1.0)
    scaled = np.where(over, truncate_to_lot(quantity * scale, lot), quantity)
    per_class = pd.DataFrame({"as_of": out["as_of"].to_numpy(), "subject": asset_class,
                              "limit_value": cap, "observed_value": gross, "over": over})
    per_class = per_class[~np.isnan(cap)].groupby(["as_of", "subject"], as_index=False).first()
    per_class["check_name"] = "asset_class_cap"
    per_class["outcome"] = np.where(per_class["over"], "scale", "pass")
    per_class["reason"] = [
        f"{c} gross {g:.3f} x capital above its cap {m:.3f}; the class scaled by {m / g:.4f}"
        if o else "" for c, g, m, o in zip(per_class["subject"], per_class["observed_value"],
                                           per_class["limit_value"], per_class["over"],
                                           strict=True)]
    return scaled, over, per_class[EVENT_COLUMNS]


def _net_exposure(out: pd.DataFrame, quantity: np.ndarray,
                  capital: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-row long and short notional of the row's date (fractions of capital), and the
    row's own notional."""
    notional = quantity * out["price"].to_numpy(float)
    longs = _group_sum([out["as_of"]], np.where(notional > 0, notional, 0.0)) / capital
    shorts = _group_sum([out["as_of"]], np.where(notional < 0, -notional, 0.0)) / capital
    return longs, shorts, notional


def _net_step(out: pd.DataFrame, quantity: np.ndarray, capital: float,
              limit: float | None) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    if limit is None:
        return quantity, np.zeros(len(out), dtype=bool), pd.DataFrame(columns=EVENT_COLUMNS)
    lot = out["lot_size"].to_numpy(float)
    longs, shorts, _ = _net_exposure(out, quantity, capital)
    observed = longs - shorts
    scaled, hit = quantity, np.zeros(len(out), dtype=bool)
    # Truncating to whole lots can overshoot the other way; every pass strictly shrinks a
    # side by at least one lot, so the loop ends (at worst with that side flat).
    for _ in range(10_000):
        longs, shorts, notional = _net_exposure(out, scaled, capital)
        net = longs - shorts
        breach = np.abs(net) > limit + 1e-12
        if not breach.any():
            break
        # the excess side s is scaled so that s' - other = limit: s' = limit + other
        excess_side = np.where(net > 0, longs, shorts)
        other_side = np.where(net > 0, shorts, longs)
        factor = (limit + other_side) / np.where(excess_side > 0, excess_side, 1.0)
        rows = breach & (np.sign(notional) == np.sign(net))
        scaled = np.where(rows, truncate_to_lot(scaled * factor, lot), scaled)
        hit |= rows
    per_date = pd.DataFrame({"as_of": out["as_of"].to_numpy(), "net": observed,
                             "after": longs - shorts}).groupby("as_of", as_index=False).first()
    breached = per_date["net"].abs() > limit + 1e-12
    events = pd.DataFrame({
        "as_of": per_date["as_of"], "check_name": "max_net_leverage", "subject": "portfolio",
        "outcome": np.where(breached, "scale", "pass"), "limit_value": limit,
        "observed_value": per_date["net"].abs(),
        "reason": [f"net {n:+.3f} x capital beyond {limit:.3f}; the "
                   f"{'long' if n > 0 else 'short'} side scaled down to a net of {a:+.3f}"
                   if b else "" for n, a, b in zip(per_date["net"], per_date["after"],
                                                    breached, strict=True)]})
    return scaled, hit, events


def _gross_step(out: pd.DataFrame, quantity: np.ndarray, capital: float,
                limit: float) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    price, lot = out["price"].to_numpy(float), out["lot_size"].to_numpy(float)
    gross = _group_sum([out["as_of"]], np.abs(quantity * price))
    max_gross = limit * capital
    scale = np.where(gross > max_gross + 1e-9, max_gross / np.where(gross > 0, gross, 1.0), 1.0)
    scaled = np.where(scale < 1.0, truncate_to_lot(quantity * scale, lot), quantity)
    per_date = pd.DataFrame({"as_of": out["as_of"].to_numpy(), "gross": gross / capital,
                             "scale": scale}).groupby("as_of", as_index=False).first()
    events = pd.DataFrame({
        "as_of": per_date["as_of"], "check_name": "max_gross_leverage", "subject": "portfolio",
        "outcome": np.where(per_date["scale"] < 1.0, "scale", "pass"), "limit_value": limit,
        "observed_value": per_date["gross"],
        "reason": [f"gross {g:.3f} x capital above {limit:.3f}; the book scaled by {s:.4f}"
                   if s < 1.0 else "" for g, s in zip(per_date["gross"], per_date["scale"],
                                                      strict=True)]})
    return scaled, scale < 1.0, events


def apply_limits(
    targets: pd.DataFrame,
    *,
    capital: float,
    max_position_fraction: float,
    max_gross_leverage: float,
    max_net_leverage: float | None = None,
    asset_class_max_gross: Mapping[str, float] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Apply the limits to ``targets`` (columns ``as_of, symbol, price, lot_size,
    target_quantity``, and ``asset_class`` when ``asset_class_max_gross`` is not empty).

    Returns ``(approved, events)``: ``approved`` is ``targets`` plus ``approved_quantity``
    and ``risk_status`` (``approved``; ``clipped`` by the position limit; ``scaled`` by an
    asset-class, net or gross limit); ``events`` has one row per check, date and subject
    with ``as_of, check_name, subject, outcome, limit_value, observed_value, reason``.
    """
    out = targets.reset_index(drop=True).copy()
    quantity = out["target_quantity"].to_numpy(float)
    quantity, clipped, position_events = _position_step(out, quantity, capital,
                                                        max_position_fraction)
    quantity, by_class, class_events = _asset_class_step(out, quantity, capital,
                                                         asset_class_max_gross or {})
    quantity, by_gross, gross_events = _gross_step(out, quantity, capital, max_gross_leverage)
    quantity, by_net, net_events = _net_step(out, quantity, capital, max_net_leverage)

    out["approved_quantity"] = quantity + 0.0
    out["risk_status"] = np.select([by_class | by_net | by_gross, clipped],
                                   ["scaled", "clipped"], "approved")
    frames = [e for e in (position_events, class_events, net_events, gross_events)
              if not e.empty]
    events = (pd.concat(frames, ignore_index=True) if frames
              else pd.DataFrame(columns=EVENT_COLUMNS))
    events = events.reindex(columns=EVENT_COLUMNS)
    events["reason"] = events["reason"].where(events["reason"] != "", "within the limit")
    return out, events


RISK_CHECKS = ("max_position", "asset_class_cap", "max_net_leverage", "max_gross_leverage")


def _empty_session_events(sessions: list, decided: set, limits_by_check: dict[str, float]
                          ) -> pd.DataFrame:
    """A passing book-level row per check for sessions with no target at all."""
    days = [d for d in sessions if d not in decided]
    rows = [{"as_of": d, "check_name": check, "subject": "portfolio", "outcome": "pass",
             "limit_value": limit, "observed_value": 0.0, "reason": "no targets"}
            for d in days for check, limit in limits_by_check.items()]
    return pd.DataFrame(rows, columns=EVENT_COLUMNS)


def decide_limits(targets: pd.DataFrame, sessions: list, trading: TradingConfig
                  ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The risk stage's rule for a window: :func:`apply_limits` with the trading
    configuration's ``risk`` section on ``trading_capital``, plus a passing book-level
    ``max_gross_leverage`` / ``max_net_leverage`` row for every session of ``sessions``
    that has no target (the orders stage's proof that risk decided that date)."""
    limits = trading.risk
    approved, events = apply_limits(
        targets, capital=trading.trading_capital,
        max_position_fraction=limits.max_position_fraction,
        max_gross_leverage=limits.max_gross_leverage,
        max_net_leverage=limits.max_net_leverage,
        asset_class_max_gross=limits.asset_class_max_gross)
    decided = set(events.loc[events["check_name"] == "max_gross_leverage", "as_of"])
    empty_days = _empty_session_events(
        sessions, decided, {"max_net_leverage": limits.max_net_leverage,
                            "max_gross_leverage": limits.max_gross_leverage})
    if not empty_days.empty:
        events = pd.concat([events, empty_days], ignore_index=True)
    return approved, events
