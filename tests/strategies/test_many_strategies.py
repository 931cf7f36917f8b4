"""Fifty strategies configured at once run through one daily pipeline window."""

from __future__ import annotations

from datetime import date

import yaml

from macroquant.db.connection import transaction
from macroquant.pipeline.runner import run_stage
from tests.conftest import make_settings

UNIVERSE = "[SPX, IXIC, AAPL, IBM, MSFT, GOOG, EURUSD, GBPUSD, AUDUSD, WTI]"
# (type, rule, parameters) cycled with different speeds to make 50 distinct strategies
FAMILIES = [
    ("trend_following", "ewma_crossover", "{{fast_span: {a}, slow_span: {b}}}"),
    ("trend_following", "sma_crossover", "{{fast: {a}, slow: {b}}}"),
    ("trend_following", "donchian_breakout", "{{entry_window: {b}, exit_window: {a}}}"),
    ("mean_reversion", "zscore", "{{window: {a}}}"),
    ("mean_reversion", "bollinger", "{{window: {a}, entry_band: 2.0, exit_band: 0.5}}"),
]


def test_fifty_strategies_run_in_one_window(loaded_settings, tmp_path):
    directory = tmp_path / "strategies"
    directory.mkdir()
    for n in range(50):
        kind, rule, parameters = FAMILIES[n % len(FAMILIES)]
        fast = 5 + n // len(FAMILIES) * 2
        (directory / f"s{n:02d}.yaml").write_text(
            f"name: s{n:02d}_{rule}\ntype: {kind}\nrule: {rule}\nuniverse: {UNIVERSE}\n"
            f"weight: 0.02\nparameters: {parameters.format(a=fast, b=fast * 4)}\n")
    # the shipped config names stops for the two default strategies; keep everything else
    config = yaml.safe_load(loaded_settings.config_path.read_text())
    config.pop("stops")
    config_path = tmp_path / "macroquant.yaml"
    config_path.write_text(yaml.safe_dump(config))
    settings = make_settings(tmp_path, loaded_settings.database_url, strategies_dir=directory,
                             config_path=config_path)
    start, end = date(2012, 10, 1), date(2012, 10, 5)
    for stage in ("ingest", "validate", "features"):
        run_stage(stage, start, end, "fifty", settings)
    result = run_stage("signals", start, end, "fifty", settings)
    assert result["strategies"] == 50 and result["failed_strategies"] == 0
    with transaction(loaded_settings.database_url) as conn:
        per_strategy = conn.execute(
            """SELECT s.name, count(*) FROM signals g JOIN strategies s USING (strategy_id)
               WHERE g.as_of BETWEEN %s AND %s GROUP BY s.name""", (start, end)).fetchall()
    assert len(per_strategy) == 50
    # 10 instruments x 5 sessions each (every rule has enough history by October 2012)
    assert {count for _, count in per_strategy} == {50}
    # ... and the rest of the pipeline takes all fifty through to orders and reports
    for stage in ("portfolio", "risk", "orders", "reports"):
        run_stage(stage, start, end, "fifty", settings)
    with transaction(loaded_settings.database_url) as conn:
        books = conn.execute("""SELECT count(DISTINCT scope) FROM performance
                                WHERE scope LIKE 'strategy:%%' AND as_of = %s""",
                             (end,)).fetchone()[0]
        orders = conn.execute("SELECT count(*) FROM orders WHERE as_of BETWEEN %s AND %s",
                              (start, end)).fetchone()[0]
    assert books == 50 and orders > 0
