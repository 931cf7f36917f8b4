"""A run that left work undone is 'degraded', never green: the CLI prints the reasons and
exits 3, pipeline_runs says 'degraded' (the DAG's last task failing on it is tested in
tests/test_dags.py). Real stages on the bundled sample history; Alpaca is the real alpaca-py client against the local fake."""

from __future__ import annotations

import shutil

import psycopg
import pytest
import yaml
from cryptography.fernet import Fernet

from macroquant.cli import main
from macroquant.config.settings import INCLUDE_DIR
from macroquant.pipeline.runner import EXIT_DEGRADED, degraded_reasons
from macroquant.security.secrets import set_secret
from tests.brokers.fake_alpaca import FakeAlpaca
from tests.brokers.support import CREDS

AS_OF = "2012-10-05"
RUN_ID = "cli__2012-10-05__2012-10-05"
STOCKS = {"AAPL": 650.0, "IBM": 210.0, "MSFT": 30.0, "GOOG": 760.0}


def _use(monkeypatch, url, home, **env):
    monkeypatch.setenv("MACROQUANT_DATABASE_URL", url)
    monkeypatch.setenv("MACROQUANT_HOME", str(home))
    for name, value in env.items():
        monkeypatch.setenv(name, str(value))


def _runs(url):
    with psycopg.connect(url) as conn:
        return {stage: (status, message) for stage, status, message in conn.execute(
            "SELECT stage, status, message FROM pipeline_runs WHERE run_id = %s", (RUN_ID,))}


@pytest.fixture
def alpaca_fake():
    fake = FakeAlpaca(STOCKS).start()
    yield fake
    fake.stop()


def test_503_burst_leaves_orders_unsent_and_the_run_degraded(loaded_db_url, tmp_path,
                                                             monkeypatch, capsys, alpaca_fake):
    key = Fernet.generate_key().decode()
    with psycopg.connect(loaded_db_url) as conn:
        for name, value in CREDS.items():
            set_secret(conn, name, value, key=key)
    config = yaml.safe_load((INCLUDE_DIR / "macroquant.yaml").read_text())
    config["broker"] = {"name": "alpaca", "options": {
        "url_override": alpaca_fake.url, "retry_wait_s": 0, "timeout_s": 2}}
    path = tmp_path / "alpaca.yaml"
    path.write_text(yaml.safe_dump(config))
    _use(monkeypatch, loaded_db_url, tmp_path, MACROQUANT_FERNET_KEY=key,
         MACROQUANT_CONFIG=path)
    alpaca_fake.inject("POST", "/v2/orders", "503", times=100)

    assert main(["run", "daily", "--as-of", AS_OF]) == EXIT_DEGRADED
    out = capsys.readouterr().out
    assert f"run {RUN_ID}: DEGRADED" in out and "all 8 stages succeeded" not in out
    runs = _runs(loaded_db_url)
    status, message = runs["orders"]
    assert status == "degraded"
    assert runs["reports"][0] == "success"           # the run went on to the reports
    with psycopg.connect(loaded_db_url) as conn:
        rows = conn.execute("""SELECT rows_written FROM pipeline_runs WHERE run_id = %s
                               AND stage = 'orders'""", (RUN_ID,)).fetchone()[0]
        unsent = conn.execute("""SELECT count(*) FROM orders WHERE broker = 'alpaca'
                                 AND status = 'new'""").fetchone()[0]
    assert unsent > 0 and rows["unsent"] == unsent and alpaca_fake.posted_orders == 0
    # the sample book holds indices, FX and oil: Alpaca cannot trade them
    assert rows["refused"] > 0
    flat = " ".join(out.split())                      # the console wraps long lines
    for reason in degraded_reasons(rows):
        assert f"orders: {reason}" in flat and reason in message
    assert f"{unsent} order(s) left unsent" in message


def test_a_strategy_that_raises_degrades_the_run(loaded_db_url, tmp_path, monkeypatch,
                                                 capsys):
    strategies = tmp_path / "strategies"
    (strategies / "plugins").mkdir(parents=True)
    for shipped in (INCLUDE_DIR / "strategies").glob("*.yaml"):
        shutil.copy(shipped, strategies)
    reversion = strategies / "zscore_reversion.yaml"      # weights must add up to <= 1
    reversion.write_text(reversion.read_text().replace("weight: 0.4", "weight: 0.3"))
    (strategies / "boom.yaml").write_text(
        "name: boom\nclass: boom_plugin:Boom\nuniverse: [SPX]\nweight: 0.1\n"
        "parameters: {lookback: 20}\n")
    (strategies / "plugins" / "boom_plugin.py").write_text(
        "from pydantic import Field\n"
        "from macroquant.strategies.base import Strategy, StrategyParameters\n\n\n"
        "class BoomParameters(StrategyParameters):\n"
        "    lookback: int = Field(20, ge=2)\n\n\n"
        "class Boom(Strategy):\n"
        "    strategy_type = 'custom'\n    rule = 'boom'\n"
        "    parameters_model = BoomParameters\n\n"
        "    def required_features(self):\n"
        "        return {f'momentum:{self.parameters.lookback}'}\n\n"
        "    def generate(self, features):\n"
        "        raise ZeroDivisionError('boom')\n")
    _use(monkeypatch, loaded_db_url, tmp_path, MACROQUANT_STRATEGIES_DIR=strategies)

    assert main(["run", "daily", "--as-of", AS_OF]) == EXIT_DEGRADED
    out = " ".join(capsys.readouterr().out.split())
    assert "signals: 1 strategy(ies) raised, so gave no signals" in out
    runs = _runs(loaded_db_url)
    assert runs["signals"] == ("degraded", "1 strategy(ies) raised, so gave no signals")
    assert runs["orders"] == ("success", "") and runs["reports"][0] == "success"
