"""What every stage receives: where the database is, the configuration, and the window."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from functools import cached_property

from macroquant.calendars import sessions
from macroquant.config.settings import Settings, TradingConfig, load_trading_config
from macroquant.db.connection import database_url


@dataclass(frozen=True)
class StageContext:
    """One run of one stage over the trading sessions ``start``..``end`` (inclusive).

    A daily run is the window of a single session; a backfill is a longer window. Stages
    are vectorised over the window's dates, and idempotent for it.
    """

    settings: Settings
    start: date
    end: date
    run_id: str
    url: str = field(default="")

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"window end {self.end} is before its start {self.start}")
        if not self.url:
            object.__setattr__(self, "url", database_url(self.settings))

    @cached_property
    def trading(self) -> TradingConfig:
        """The trading configuration, its count limits resolved for the book
        (``risk.max_orders_per_instrument`` × the enabled strategies' instruments, see
        :meth:`TradingConfig.for_book`)."""
        config = load_trading_config(self.settings.config_path)
        if config.risk.max_orders_per_instrument is None:
            return config
        from macroquant.strategies.book_checks import book_instruments
        from macroquant.strategies.loader import load_book

        return config.for_book(len(book_instruments(load_book(self.settings.strategies_dir))))

    @cached_property
    def sessions(self) -> list[date]:
        return sessions(self.start, self.end)
