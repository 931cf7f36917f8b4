"""Checks of the trading configuration against the strategy folder: stops and limits."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from macroquant.config.settings import INCLUDE_DIR, TradingConfig, load_trading_config
from macroquant.errors import ConfigError
from macroquant.strategies.book_checks import check_stops, full_positions, limit_warnings
from macroquant.strategies.loader import load_book, load_strategy_file

TREND = {"name": "trend", "type": "trend_following", "rule": "ewma_crossover",
         "universe": ["SPX", "IBM"], "weight": 0.5,
         "parameters": {"fast_span": 16, "slow_span": 64}}


def _shipped(**changes: object) -> TradingConfig:
    data = yaml.safe_load((INCLUDE_DIR / "macroquant.yaml").read_text())
    for dotted, value in changes.items():
        section, key = dotted.split("__")
        data[section][key] = value
    return TradingConfig.model_validate(data)


def test_stops_default_applies_to_every_strategy_and_an_entry_replaces_it():
    config = _shipped()
    assert config.stop_rules("anything").stop_loss.fraction == 0.10
    data = config.model_dump()
    data["stops"]["quiet"] = {}
    own = TradingConfig.model_validate(data)
    assert own.stop_rules("quiet").stop_loss is None
    assert own.strategies_with_stops(["quiet", "trend"]) == ["trend"]


def test_a_stops_key_naming_no_strategy_file_is_an_error_naming_file_and_key(tmp_path):
    book = load_book(INCLUDE_DIR / "strategies")
    config = _shipped()
    check_stops(config, book, tmp_path / "t.yaml", INCLUDE_DIR / "strategies")  # default: ok
    bad = config.model_copy(update={"stops": {"ewma_trnd": config.stops["default"]}})
    with pytest.raises(ConfigError) as error:
        check_stops(bad, book, tmp_path / "t.yaml", INCLUDE_DIR / "strategies")
    assert error.value.path == str(tmp_path / "t.yaml")
    assert error.value.field == "stops.ewma_trnd"
    assert "no strategy is named 'ewma_trnd'" in str(error.value)
    assert "ewma_trend, zscore_reversion" in str(error.value)


def test_a_strategy_may_not_be_named_default(tmp_path):
    source = (INCLUDE_DIR / "strategies" / "ewma_trend.yaml").read_text()
    (tmp_path / "d.yaml").write_text(source.replace("name: ewma_trend", "name: default"))
    with pytest.raises(ConfigError, match="'default' is reserved"):
        load_book(tmp_path)


def _big_book(tmp_path: Path, instruments: int, strategies: int) -> list:
    universe = [f"S{i:05d}" for i in range(instruments)]
    book = []
    for n in range(strategies):
        path = tmp_path / f"s{n}.yaml"
        path.write_text(yaml.safe_dump({**TREND, "name": f"s{n:02d}", "universe": universe,
                                        "weight": round(1 / strategies, 4)}))
        book.append(load_strategy_file(path))
    return book


def test_max_orders_per_day_scales_with_the_book():
    config = _shipped()
    assert config.risk.max_orders_per_instrument == 1.5
    assert config.for_book(10_000).risk.max_orders_per_day == 15_000
    assert config.for_book(11).risk.max_orders_per_day == 200      # the floor
    fixed = _shipped(risk__max_orders_per_instrument=None)
    assert fixed.for_book(10_000).risk.max_orders_per_day == 200


def test_validate_flags_limits_that_bind_on_most_orders(tmp_path):
    book = _big_book(tmp_path, 10_000, 2)
    old = _shipped(risk__max_orders_per_instrument=None)
    lines = limit_warnings(old, book, Path("t.yaml"))
    # 200 of 10,000 first-day orders pass: 98 % rejected
    assert lines[0].startswith("t.yaml: risk.max_orders_per_day 200 is below the book's "
                               "10000 instruments") and "about 98% of the orders" in lines[0]
    # full position per instrument: 2 x (1e6 x 0.5 x 0.12 / (10,000 x 0.16)) = 75; typical
    # (half strength) 37.5 against a minimum order of 2,000
    assert full_positions(old, book)["S00042"] == pytest.approx(75.0)
    assert "min_order_notional 2,000 is above the typical position" in lines[1]
    assert "(about 38:" in lines[1] and "(e.g. 4)" in lines[1]
    # the shipped configuration scales the order count; the demo book is not flagged
    assert len(limit_warnings(_shipped(), book, Path("t.yaml"))) == 1
    demo = load_book(INCLUDE_DIR / "strategies")
    assert limit_warnings(load_trading_config(INCLUDE_DIR / "macroquant.yaml"), demo,
                          Path("t.yaml")) == []
