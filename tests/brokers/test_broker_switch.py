"""One broker switch: the trading config's ``broker:`` section, its typed options, and the
`macroquant orders` commands following it."""

from __future__ import annotations

import re
from pathlib import Path

import psycopg
import pytest
import yaml
from cryptography.fernet import Fernet

from macroquant.brokers.registry import (
    BROKERS,
    broker_options,
    check_broker_config,
    options_model,
)
from macroquant.cli import main
from macroquant.config.settings import INCLUDE_DIR, PROJECT_ROOT, load_trading_config
from macroquant.errors import ConfigError
from macroquant.security.secrets import set_secret
from tests.brokers.support import CREDS

BASE = yaml.safe_load((INCLUDE_DIR / "macroquant.yaml").read_text())


def load_checked(path: Path):
    """The trading config of ``path`` with its broker options checked."""
    trading = load_trading_config(path)
    return check_broker_config(trading, path)


def write_config(path: Path, broker: dict) -> Path:
    path.write_text(yaml.safe_dump({**BASE, "broker": broker}), encoding="utf-8")
    return path


def test_a_typo_in_broker_options_is_one_line_naming_file_and_key(tmp_path):
    path = write_config(tmp_path / "mq.yaml", {"name": "alpaca", "options": {
        "url_overide": "http://127.0.0.1:1"}})
    with pytest.raises(ConfigError) as caught:
        load_checked(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: field 'broker.options.url_overide': unknown key for "
                              "broker 'alpaca' (its keys: paper, url_override,")
    assert "\n" not in message
    bad_value = write_config(tmp_path / "v.yaml", {"name": "ibkr", "options": {"port": 0}})
    with pytest.raises(ConfigError, match=r"field 'broker.options.port': Input should be "
                                          r"greater than or equal to 1"):
        load_checked(bad_value)
    costs = write_config(tmp_path / "c.yaml", {"name": "paper", "options": {
        "slippage_bps": 5}})
    with pytest.raises(ConfigError, match="set broker.slippage_bps instead"):
        load_checked(costs)


def test_run_daily_refuses_a_broker_typo_before_any_stage(db_url, tmp_path, monkeypatch,
                                                         capsys):
    path = write_config(tmp_path / "mq.yaml", {"name": "alpaca", "options": {
        "symbol_mapp": {"SPX": "SPY"}}})
    monkeypatch.setenv("MACROQUANT_DATABASE_URL", db_url)
    monkeypatch.setenv("MACROQUANT_HOME", str(tmp_path))
    monkeypatch.setenv("MACROQUANT_CONFIG", str(path))
    assert main(["run", "daily", "--as-of", "2012-10-05"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err
    assert err.startswith(f"error: trading configuration: {path}: field "
                          "'broker.options.symbol_mapp': unknown key")
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM pipeline_runs").fetchone()[0] == 0


@pytest.mark.parametrize("name", BROKERS)
def test_each_broker_has_an_example_file_listing_every_key(name):
    path = INCLUDE_DIR / "brokers" / f"{name}.yaml"
    data = yaml.safe_load(path.read_text())
    broker_options(name, data, path)                    # valid as an --options file
    keys = set(options_model(name).model_fields)
    documented = set(data) if name != "paper" else set(data) | {"commission_bps",
                                                               "slippage_bps"}
    assert documented == keys
    docs = (PROJECT_ROOT / "docs" / "execution.md").read_text()
    section = docs[docs.index("### Broker options"):]
    for key in keys:
        assert re.search(rf"`{key}`", section), f"docs/execution.md misses {name}.{key}"


def test_orders_commands_follow_the_configured_broker(db_url, tmp_path, monkeypatch, capsys,
                                                     fake_alpaca):
    key = Fernet.generate_key().decode()
    monkeypatch.setenv("MACROQUANT_FERNET_KEY", key)
    with psycopg.connect(db_url) as conn:
        for name, value in CREDS.items():
            set_secret(conn, name, value, key=key)
    monkeypatch.setenv("MACROQUANT_DATABASE_URL", db_url)
    monkeypatch.setenv("MACROQUANT_HOME", str(tmp_path))
    alpaca = write_config(tmp_path / "alpaca.yaml", {"name": "alpaca", "options": {
        "url_override": fake_alpaca.url, "retry_wait_s": 0}})
    monkeypatch.setenv("MACROQUANT_CONFIG", str(alpaca))
    assert main(["orders", "reconcile"]) == 0
    assert capsys.readouterr().out.startswith("reconciliation with alpaca: ok")
    assert ("GET", "/v2/positions") in fake_alpaca.requests

    paper = write_config(tmp_path / "paper.yaml", {"name": "paper"})
    monkeypatch.setenv("MACROQUANT_CONFIG", str(paper))
    assert main(["orders", "reconcile", "--broker", "alpaca"]) == 1
    err = capsys.readouterr().err
    assert "--broker alpaca: the trading config" in err and "--options FILE" in err
    options = tmp_path / "alpaca-options.yaml"
    options.write_text(yaml.safe_dump({"url_override": fake_alpaca.url, "retry_wait_s": 0}))
    assert main(["orders", "reconcile", "--broker", "alpaca", "--options", str(options)]) == 0
    assert capsys.readouterr().out.startswith("reconciliation with alpaca: ok")
    options.write_text("url_overide: http://127.0.0.1:1\n")
    assert main(["orders", "reconcile", "--broker", "alpaca", "--options", str(options)]) == 1
    assert f"{options}: field 'broker.options.url_overide'" in capsys.readouterr().err


def test_a_live_broker_other_than_the_configured_one_needs_its_options(tmp_path):
    from macroquant.brokers.registry import selected_options
    from macroquant.errors import MacroQuantError

    path = write_config(tmp_path / "mq.yaml", {"name": "paper", "commission_bps": 3.0})
    trading = load_trading_config(path)
    with pytest.raises(MacroQuantError, match="--broker ccxt: the trading config"):
        selected_options("ccxt", trading, path)           # never a default endpoint
    name, options = selected_options(None, trading, path, paper_state=tmp_path / "acct.json")
    assert (name, options.commission_bps, options.state_path) == ("paper", 3.0,
                                                                   tmp_path / "acct.json")
