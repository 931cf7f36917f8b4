"""Data-quality checks on staged daily bars (pure, vectorised).

Each check returns a boolean mask of failing rows and a reason per row. A row that fails
any check is quarantined with every reason it failed; the rest are published.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

PRICE_COLUMNS = ("open", "high", "low", "close")
CheckResult = tuple[pd.Series, pd.Series]


def _reason(mask: pd.Series, text: pd.Series | str) -> pd.Series:
    return pd.Series(np.where(mask, text, ""), index=mask.index, dtype=object)


def check_unknown_instrument(bars: pd.DataFrame, known_symbols: set[str]) -> CheckResult:
    """The symbol is not in the instruments table."""
    mask = ~bars["symbol"].isin(known_symbols)
    return mask, _reason(mask, "symbol " + bars["symbol"].astype(str) + " is not a known instrument")


def check_missing_values(bars: pd.DataFrame) -> CheckResult:
    """No close, no date, or only some of open/high/low (a source gives all three or none)."""
    partial = bars[["open", "high", "low"]].isna().sum(axis=1).isin([1, 2])
    mask = bars["close"].isna() | bars["trade_date"].isna() | partial
    text = np.where(bars["close"].isna(), "close is missing",
                    np.where(bars["trade_date"].isna(), "trade_date is missing",
                             "only some of open/high/low are present"))
    return mask, _reason(mask, pd.Series(text, index=bars.index))


def check_non_positive(bars: pd.DataFrame) -> CheckResult:
    """A price (open, high, low, close, adj_close) <= 0 or infinite, or a negative or
    infinite volume (reasons in that order of precedence)."""
    prices = bars[[*PRICE_COLUMNS, "adj_close"]].astype(float)
    volume = bars["volume"].astype(float)
    bad_price = (prices <= 0).any(axis=1)
    infinite_price = (prices == np.inf).any(axis=1)
    bad_volume = volume < 0
    infinite_volume = volume == np.inf
    mask = bad_price | infinite_price | bad_volume | infinite_volume
    text = np.select([bad_price, infinite_price, bad_volume],
                     ["non-positive price", "infinite price", "negative volume"],
                     "infinite volume")
    return mask, _reason(mask, pd.Series(text, index=bars.index))


def check_ohlc_consistency(bars: pd.DataFrame) -> CheckResult:
    """High below open/close/low, or low above open/close/high (where they are present),
    among positive prices only: a row with a price <= 0 fails :func:`check_non_positive`
    and is not reported twice."""
    o, h, low, c = (bars[name] for name in PRICE_COLUMNS)
    top = pd.concat([o, c, low], axis=1).max(axis=1)
    bottom = pd.concat([o, c, h], axis=1).min(axis=1)
    positive = ~(bars[list(PRICE_COLUMNS)].astype(float) <= 0).any(axis=1)
    mask = h.notna() & positive & ((h < top - 1e-9) | (low > bottom + 1e-9))
    text = ("high " + h.astype(str) + " / low " + low.astype(str) +
            " inconsistent with open " + o.astype(str) + " close " + c.astype(str))
    return mask, _reason(mask, text)


def check_duplicates(bars: pd.DataFrame) -> CheckResult:
    """More than one row for the same symbol and date in one batch (all copies fail:
    which one is right cannot be told)."""
    mask = bars.duplicated(subset=["symbol", "trade_date"], keep=False) & bars["trade_date"].notna()
    return mask, _reason(mask, "more than one row for this symbol and date")


def check_future_timestamp(bars: pd.DataFrame) -> CheckResult:
    """A bar dated after the pipeline date it was fetched for."""
    mask = bars["trade_date"] > bars["as_of"]
    text = "trade_date " + bars["trade_date"].astype(str) + " is after as_of " + bars["as_of"].astype(str)
    return mask, _reason(mask, text)


def run_checks(bars: pd.DataFrame, known_symbols: set[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run every check over ``bars`` (staging columns, dates as Timestamps).

    Returns ``(failures, summary)``: one failure row per (row, check) with its reason, and
    per check the number of rows checked and failed.
    """
    checks: dict[str, Callable[[pd.DataFrame], CheckResult]] = {
        "unknown_instrument": lambda b: check_unknown_instrument(b, known_symbols),
        "missing_values": check_missing_values,
        "non_positive_price": check_non_positive,
        "ohlc_consistency": check_ohlc_consistency,
        "duplicate": check_duplicates,
        "future_timestamp": check_future_timestamp,
    }
    failures, summary = [], []
    for name, check in checks.items():
        mask, reason = check(bars)
        mask = mask.fillna(False).astype(bool)
        summary.append({"check_name": name, "rows_checked": len(bars),
                        "rows_failed": int(mask.sum())})
        if mask.any():
            failed = bars.loc[mask].copy()
            failed["check_name"] = name
            failed["reason"] = reason[mask]
            failures.append(failed)
    failure_frame = (pd.concat(failures, ignore_index=True) if failures
                     else bars.iloc[0:0].assign(check_name="", reason=""))
    return failure_frame, pd.DataFrame(summary)
