"""Settings (environment variables MACROQUANT_*) and the typed configuration files."""

from macroquant.config.settings import Settings, TradingConfig, load_settings, load_trading_config

__all__ = ["Settings", "TradingConfig", "load_settings", "load_trading_config"]
