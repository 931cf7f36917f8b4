"""A strategy file in the book may not carry a block that only the research backtest
reads: it would act on one path only."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from macroquant.config.settings import INCLUDE_DIR
from macroquant.errors import ConfigError
from macroquant.strategies.loader import load_strategies, load_strategy_file

EXAMPLE = INCLUDE_DIR / "examples" / "sma_cross_msft.yaml"


@pytest.mark.parametrize(("block", "value", "where"), [
    ("sizing", {"method": "full_equity"}, "`portfolio` section"),
    ("execution", {"price": "next_close", "commission_bps": 10}, "`broker` section"),
    ("execution", {}, "`broker` section"),     # even an empty block: it says it acts
])
def test_a_research_only_block_in_the_book_is_refused(tmp_path: Path, block, value, where):
    spec = yaml.safe_load((INCLUDE_DIR / "strategies" / "ewma_trend.yaml").read_text())
    spec[block] = value
    path = tmp_path / "ewma_trend.yaml"
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(ConfigError) as caught:
        load_strategies(tmp_path)
    assert caught.value.path == str(path) and caught.value.field == block
    assert where in str(caught.value) and "macroquant backtest FILE" in str(caught.value)


def test_the_research_backtest_still_reads_them_and_the_shipped_book_has_none():
    config = load_strategy_file(EXAMPLE).config
    assert (config.sizing.method, config.execution.price) == ("full_equity", "next_close")
    assert [s.config.name for s in load_strategies(INCLUDE_DIR / "strategies")] == [
        "ewma_trend", "zscore_reversion"]
