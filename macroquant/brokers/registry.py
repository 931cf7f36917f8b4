"""Build a broker adapter by name, with its secrets read from the encrypted store.

The trading configuration's ``broker:`` section is the one switch: ``name`` selects the
adapter (paper, alpaca, ibkr, ccxt) for the daily run and ``macroquant orders`` alike, and
``options`` are that adapter's settings, checked by its typed, frozen model
(``macroquant/brokers/<name>/config.py``, unknown keys are errors) by
:func:`check_broker_config`: the pre-flight (``macroquant run``, the DAG) calls it before
any stage runs, and every place that builds a broker from the configuration goes through it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
from pydantic import BaseModel, ValidationError

from macroquant.brokers.interface import Broker
from macroquant.errors import ConfigError

if TYPE_CHECKING:
    from macroquant.config.settings import TradingConfig

BROKERS = ("paper", "alpaca", "ibkr", "ccxt")
# broker name -> (config module, options model, adapter class)
_ADAPTERS = {
    "paper": ("macroquant.brokers.paper", "PaperConfig", "PaperAccountBroker"),
    "alpaca": ("macroquant.brokers.alpaca", "AlpacaConfig", "AlpacaBroker"),
    "ibkr": ("macroquant.brokers.ibkr", "IbkrConfig", "IbkrBroker"),
    "ccxt": ("macroquant.brokers.ccxt_broker", "CcxtConfig", "CcxtBroker"),
}


def options_model(name: str) -> type[BaseModel]:
    """The typed options model of broker ``name``."""
    if name not in _ADAPTERS:
        raise ConfigError("broker", "name", f"unknown broker {name!r}; one of {', '.join(BROKERS)}")
    package, model, _adapter = _ADAPTERS[name]
    return getattr(import_module(package), model)


def broker_options(name: str, options: Mapping[str, Any], source: str | Path,
                   field: str = "broker.options") -> BaseModel:
    """``options`` checked by broker ``name``'s model; the first error is a ConfigError
    naming ``source`` (the file) and the key (``broker.options.<key>``)."""
    try:
        return options_model(name).model_validate(dict(options))
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"])
        message = first["msg"]
        if first["type"] == "extra_forbidden":
            known = ", ".join(options_model(name).model_fields)
            message = f"unknown key for broker '{name}' (its keys: {known})"
        raise ConfigError(str(source), f"{field}.{key}" if key else field, message) from None


PAPER_COSTS = ("commission_bps", "slippage_bps")


def check_broker_config(trading: TradingConfig, source: str | Path = "trading config"
                        ) -> BaseModel:
    """The configured broker's typed options; a wrong key or value raises a one-line
    ConfigError naming ``source`` and the key. For ``macroquant run`` and any pre-flight
    check, and wherever a broker is built from the configuration. The paper broker's costs come from the broker
    section itself (``broker.commission_bps``), which the daily replay uses too."""
    options = dict(trading.broker.options)
    if trading.broker.name == "paper":
        for key in PAPER_COSTS:
            if key in options:
                raise ConfigError(str(source), f"broker.options.{key}",
                                  f"set broker.{key} instead (the daily paper replay and the "
                                  "paper OMS account share it)")
            options[key] = getattr(trading.broker, key)
    return broker_options(trading.broker.name, options, source)


def selected_options(name: str | None, trading: TradingConfig, config_path: Path,
                     options_path: Path | None = None, *, paper_state: Path | None = None
                     ) -> tuple[str, BaseModel]:
    """The broker a command talks to and its typed options: the trading config's
    ``broker:`` section unless ``name`` / ``options_path`` (a YAML mapping of options) say
    otherwise. A live broker other than the configured one needs an options file: it never
    falls back to a default (public) endpoint. The paper broker needs none; its OMS account
    is kept in ``paper_state`` unless the options name a ``state_path``."""
    from macroquant.config.settings import read_yaml_mapping
    from macroquant.errors import MacroQuantError

    chosen = name or trading.broker.name
    if options_path is not None:
        options = broker_options(chosen, read_yaml_mapping(options_path), options_path)
    elif chosen == trading.broker.name:
        options = check_broker_config(trading, config_path)
    elif chosen == "paper":
        options = broker_options(chosen, {}, "--broker paper")
    else:
        raise MacroQuantError(
            f"--broker {chosen}: the trading config ({config_path}) selects broker "
            f"'{trading.broker.name}'; give {chosen}'s settings with --options FILE (an "
            "example per broker is in include/brokers/) or set broker.name in the config")
    if chosen == "paper" and paper_state is not None and options.state_path is None:
        options = options.model_copy(update={"state_path": paper_state})
    return chosen, options


def secret_lookup(conn: psycopg.Connection) -> Callable[[str], str | None]:
    """name -> decrypted secret, or None when no secret of that name is stored."""
    from macroquant.security.secrets import get_secret

    def lookup(name: str) -> str | None:
        exists = conn.execute("SELECT 1 FROM secrets WHERE name = %s", (name,)).fetchone()
        return get_secret(conn, name) if exists else None

    return lookup


def make_broker(name: str, options: Mapping[str, Any] | BaseModel,
                lookup: Callable[[str], str | None], clock: Callable[[], datetime], *,
                ib: Any = None) -> Broker:
    """The adapter ``name`` configured by ``options`` (its typed model, or a mapping of its
    fields, checked here).

    A live broker whose secrets are missing raises ``MissingCredentialError`` naming the
    secret; the paper broker needs none. ``ib`` injects an ``ib_async.IB``-like client.
    """
    model = options_model(name)
    config = options if isinstance(options, model) else broker_options(
        name, options.model_dump() if isinstance(options, BaseModel) else options,
        f"broker '{name}' options")
    package, _model, adapter = _ADAPTERS[name]
    adapter_class = getattr(import_module(package), adapter)
    if name == "paper":
        return adapter_class(config, clock)
    if name == "ibkr":
        return adapter_class(config, lookup, ib=ib)
    return adapter_class(config, lookup)
