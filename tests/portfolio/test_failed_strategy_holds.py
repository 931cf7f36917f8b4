"""A strategy that raises holds its positions: its last targets are carried, no order is
sent for it, and an ERROR names it — in the daily stages and in the book backtest alike."""

from __future__ import annotations

from datetime import date

import pytest
import yaml

from macroquant.backtest.book import compare_with_account, read_account, run_book_backtest
from macroquant.config.settings import INCLUDE_DIR
from macroquant.db.bulk import read_frame
from macroquant.db.connection import transaction
from macroquant.pipeline.runner import run_pipeline
from tests.conftest import make_settings

FLAKY = '''
"""Sign momentum that raises on any window reaching ``fail_from``."""
from datetime import date

import numpy as np
from pydantic import Field

from macroquant.strategies.base import Strategy, StrategyParameters


class FlakyParameters(StrategyParameters):
    fail_from: date = Field(date(2100, 1, 1))


class Flaky(Strategy):
    strategy_type = "custom"
    rule = "flaky"
    parameters_model = FlakyParameters

    def required_features(self):
        return {"momentum:20"}

    def generate(self, features):
        past = features["momentum:20"]
        if past.index.max().date() >= self.parameters.fail_from:
            raise RuntimeError("the model file is corrupt")
        return np.sign(past).where(past.notna())
'''

FIRST = (date(2012, 10, 1), date(2012, 10, 12))
SECOND = (date(2012, 10, 15), date(2012, 10, 19))


@pytest.fixture
def flaky_book(tmp_path, loaded_db_url):
    folder = tmp_path / "strategies"
    (folder / "plugins").mkdir(parents=True)
    (folder / "plugins" / "flaky.py").write_text(FLAKY)
    flaky = {"name": "flaky", "class": "flaky:Flaky", "universe": ["SPX", "IXIC", "WTI"],
             "weight": 0.3, "parameters": {"fail_from": str(SECOND[0])}}
    (folder / "flaky.yaml").write_text(yaml.safe_dump(flaky))
    trend = yaml.safe_load((INCLUDE_DIR / "strategies" / "ewma_trend.yaml").read_text())
    trend.update(weight=0.5)
    (folder / "ewma_trend.yaml").write_text(yaml.safe_dump(trend))
    config = yaml.safe_load((INCLUDE_DIR / "macroquant.yaml").read_text())
    config["stops"] = {}
    (tmp_path / "trading.yaml").write_text(yaml.safe_dump(config))
    return make_settings(tmp_path, loaded_db_url, strategies_dir=folder,
                         config_path=tmp_path / "trading.yaml")


def test_a_strategy_that_raises_holds_its_last_targets(flaky_book):
    settings = flaky_book
    run_pipeline(*FIRST, "first", settings)
    results = run_pipeline(*SECOND, "second", settings)
    assert results["signals"]["failed_strategies"] == 1
    query = """SELECT t.as_of, i.symbol, t.target_quantity FROM targets t
               JOIN strategies s USING (strategy_id) JOIN instruments i USING (instrument_id)
               WHERE s.name = 'flaky' ORDER BY t.as_of, i.symbol"""
    with transaction(settings.database_url) as conn:
        targets = read_frame(conn, query)
        logged = conn.execute("""SELECT count(*) FROM system_logs WHERE level = 'ERROR'
                                 AND message LIKE %s""", ("strategy flaky raised%",)).fetchone()
    last = targets[targets["as_of"] == FIRST[1]].set_index("symbol")["target_quantity"]
    assert (last != 0).sum() >= 2          # it held positions before it broke
    for day, rows in targets[targets["as_of"] >= SECOND[0]].groupby("as_of"):
        held = rows.set_index("symbol")["target_quantity"]
        assert (held.reindex(last.index) == last).all(), day   # held while it is broken
    assert targets["as_of"].nunique() == 10 + 5
    assert logged[0] == 1


def test_the_backtest_holds_a_failing_strategy_the_same_way(flaky_book):
    settings = flaky_book
    run_pipeline(FIRST[0], SECOND[1], "whole", settings)
    result = run_book_backtest(settings, FIRST[0], SECOND[1])
    assert set(result.errors) == {"flaky"}
    with transaction(settings.database_url) as conn:
        parity = compare_with_account(result, read_account(conn, FIRST[0], SECOND[1]))
    assert parity.equal, parity
