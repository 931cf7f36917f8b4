"""Fixtures of the backtest tests: the bundled MSFT history and the example strategy."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from macroquant.backtest.data import MarketPanels, panels_from_bars
from macroquant.sources import sample
from macroquant.strategies import moving_average  # noqa: F401  (registers sma_crossover)
from macroquant.strategies.loader import LoadedStrategy, load_strategy_file

EXAMPLE = Path(__file__).resolve().parents[2] / "include" / "examples" / "sma_cross_msft.yaml"


@pytest.fixture(scope="session")
def msft_bars() -> pd.DataFrame:
    """The bundled real MSFT bars (bokeh sampledata, 2000-03-01 to 2013-03-01)."""
    return sample.fetch_bars(date(1990, 1, 1), date(2030, 1, 1), ["MSFT"])


@pytest.fixture(scope="session")
def msft_panels(msft_bars: pd.DataFrame) -> MarketPanels:
    return panels_from_bars(msft_bars, ["MSFT"])


@pytest.fixture(scope="session")
def example_strategy() -> LoadedStrategy:
    return load_strategy_file(EXAMPLE)


@pytest.fixture
def msft_csv(msft_bars: pd.DataFrame, tmp_path: Path) -> Path:
    """The MSFT bars as a ``macroquant ingest csv`` file."""
    frame = msft_bars.rename(columns={"trade_date": "date"})
    frame["date"] = frame["date"].dt.strftime("%Y-%m-%d")
    path = tmp_path / "msft.csv"
    frame[["symbol", "date", "open", "high", "low", "close", "volume", "adj_close"]].to_csv(
        path, index=False)
    return path
