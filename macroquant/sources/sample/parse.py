"""Vendor payloads of the sample source → MacroQuant domain rows."""

from __future__ import annotations

import numpy as np
import pandas as pd

BAR_COLUMNS = ["symbol", "trade_date", "open", "high", "low", "close", "adj_close", "volume"]
OBSERVATION_COLUMNS = ["series_id", "observation_date", "realtime_start", "value"]


def _bars(symbol: str, dates: pd.Series | pd.Index, **columns: object) -> pd.DataFrame:
    frame = pd.DataFrame({"trade_date": pd.to_datetime(np.asarray(dates)).normalize()})
    frame.insert(0, "symbol", symbol)
    for name in BAR_COLUMNS[2:]:
        value = columns.get(name)
        frame[name] = np.asarray(value, dtype=float) if value is not None else np.nan
    return frame


def bars_from_yahoo_ohlcv(symbol: str, payload: pd.DataFrame) -> pd.DataFrame:
    """arch's Yahoo extracts (``Open, High, Low, Close, Adj Close, Volume``)."""
    return _bars(
        symbol, payload.index, open=payload["Open"], high=payload["High"], low=payload["Low"],
        close=payload["Close"], adj_close=payload["Adj Close"], volume=payload["Volume"],
    )


def bars_from_close_series(symbol: str, payload: pd.DataFrame, column: str) -> pd.DataFrame:
    """A FRED-style single column of closes; days with no value (FRED's ``.``) are dropped."""
    closes = payload[column].dropna()
    return _bars(symbol, closes.index, close=closes)


def bars_from_quandl_wiki(symbol: str, payload: pd.DataFrame) -> pd.DataFrame:
    """bokeh-sampledata's Quandl WIKI bars (raw OHLCV plus the vendor's adjusted close)."""
    return _bars(
        symbol, payload["date"], open=payload["open"], high=payload["high"], low=payload["low"],
        close=payload["close"], adj_close=payload["adj_close"], volume=payload["volume"],
    )


def bars_from_ecb_rates(symbol: str, rates: pd.DataFrame, currency: str) -> pd.DataFrame:
    """USD price of one unit of ``currency`` from the ECB's per-EUR reference rates.

    ``EURUSD`` is the ECB's USD rate; any other ``XXXUSD`` is ``USD / XXX``. Only a
    fixing is published, so open, high and low stay NULL.
    """
    usd_per_eur = rates["USD"]
    price = usd_per_eur if currency == "USD" else usd_per_eur / rates[currency]
    keep = price.notna().to_numpy()
    return _bars(symbol, rates.loc[keep, "Date"], close=price[keep]).sort_values(
        "trade_date", ignore_index=True
    )


def observations_from_monthly(series_id: str, values: pd.Series, lag_days: int) -> pd.DataFrame:
    """Monthly observations dated at the month's first day; public ``lag_days`` after the
    month ends (a stand-in for vintages the source does not have)."""
    values = values.dropna()
    observed = pd.to_datetime(values.index).to_period("M")
    return _observations(series_id, observed, values.to_numpy(), lag_days)


def observations_from_quarterly(
    series_id: str, years: pd.Series, quarters: pd.Series, values: pd.Series, lag_days: int
) -> pd.DataFrame:
    """Quarterly observations dated at the quarter's first day; public ``lag_days`` after
    the quarter ends."""
    observed = pd.PeriodIndex.from_fields(
        year=years.astype(int).to_numpy(), quarter=quarters.astype(int).to_numpy(), freq="Q"
    )
    return _observations(series_id, observed, values.to_numpy(dtype=float), lag_days)


def _observations(
    series_id: str, periods: pd.PeriodIndex, values: np.ndarray, lag_days: int
) -> pd.DataFrame:
    period_end = periods.end_time.normalize()
    return pd.DataFrame(
        {
            "series_id": series_id,
            "observation_date": periods.start_time.normalize(),
            "realtime_start": period_end + pd.Timedelta(days=lag_days),
            "value": values,
        }
    )


ACTION_COLUMNS = ["symbol", "ex_date", "action", "value"]


def corporate_actions_from_adjusted(symbol: str, payload: pd.DataFrame,
                                    split_tolerance: float = 0.2) -> pd.DataFrame:
    """Splits and cash dividends implied by a vendor's raw and back-adjusted closes.

    The adjustment factor ``f = adj_close / close`` steps at each ex-date: by the split
    ratio (new/old shares) for a split, by ``1 / (1 - D / previous close)`` for a cash
    dividend ``D``. A step over ``split_tolerance`` is a split (ratio rounded to the nearest
    quarter: 2, 3, 1.5, 0.5, …); a smaller step (over 1e-4) is a dividend (rounded to 1e-4).
    """
    bars = payload.assign(date=pd.to_datetime(payload["date"])).sort_values("date")
    factor = (bars["adj_close"] / bars["close"]).to_numpy(dtype=float)
    step = factor[1:] / factor[:-1]
    dates = bars["date"].to_numpy()[1:]
    previous_close = bars["close"].to_numpy(dtype=float)[:-1]
    is_split = np.abs(step - 1) > split_tolerance
    is_dividend = ~is_split & (step - 1 > 1e-4)
    splits = pd.DataFrame({"ex_date": dates[is_split], "action": "split",
                           "value": np.round(step[is_split] * 4) / 4})
    dividends = pd.DataFrame({"ex_date": dates[is_dividend], "action": "dividend",
                              "value": np.round(previous_close[is_dividend]
                                                * (1 - 1 / step[is_dividend]), 4)})
    actions = pd.concat([splits, dividends], ignore_index=True)
    actions.insert(0, "symbol", symbol)
    actions["ex_date"] = pd.to_datetime(actions["ex_date"])
    return actions.sort_values(["ex_date", "action"], ignore_index=True)[ACTION_COLUMNS]
