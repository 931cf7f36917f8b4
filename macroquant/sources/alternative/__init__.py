"""Alternative data adapter: news feeds and Reddit posts with VADER sentiment.

Hooks: :func:`register` (the ``news_rss`` and ``reddit`` data_sources rows, disabled by
default), :func:`fetch_items` (rows with the ``alternative_data`` columns) and
:func:`store_items` (upsert them; an item seen again keeps its key and is updated).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

import pandas as pd
import psycopg

from macroquant.db.bulk import upsert_rows
from macroquant.economics.vendors import (
    given_config,
    merged_config,
    register_source,
    stored_config_and_key,
)
from macroquant.sources.alternative import client, parse
from macroquant.sources.alternative.config import (
    DATA_SOURCES,
    DEFAULT_CONFIG,
    NEWS_SOURCE_ID,
    REDDIT_SOURCE_ID,
    SENTIMENT_METHOD,
    AlternativeConfig,
)

__all__ = ["NEWS_SOURCE_ID", "REDDIT_SOURCE_ID", "SENTIMENT_METHOD", "fetch_items",
           "load_config", "register", "store_items"]


def load_config(stored: dict[str, Any] | None) -> AlternativeConfig:
    """Defaults overridden by the ``news_rss`` row's ``config`` JSON."""
    return merged_config(AlternativeConfig, DEFAULT_CONFIG, stored, NEWS_SOURCE_ID)


def register(conn: psycopg.Connection) -> None:
    """Upsert the ``news_rss`` and ``reddit`` data_sources rows."""
    with conn.transaction():
        for row in DATA_SOURCES:
            register_source(conn, row)


def fetch_items(start: date | None = None, end: date | None = None, *,
                config: AlternativeConfig | Mapping[str, Any] | None = None) -> pd.DataFrame:
    """News and Reddit items published (UTC) from ``start`` through ``end`` inclusive
    (either bound optional), with sentiment and symbol tags."""
    config = given_config(AlternativeConfig, DEFAULT_CONFIG, config, NEWS_SOURCE_ID)
    if config is None:
        stored, _ = stored_config_and_key(NEWS_SOURCE_ID, None, need_key=False)
        config = load_config(stored)
    entries = [entry for feed in config.news_feeds
               for entry in client.fetch_feed(NEWS_SOURCE_ID, feed.name, feed.url,
                                              config.user_agent, config.timeout_seconds)]
    posts = [post for sub in config.subreddits
             for post in client.fetch_subreddit(REDDIT_SOURCE_ID, config.reddit_url, sub,
                                                config.reddit_listing, config.reddit_limit,
                                                config.user_agent, config.timeout_seconds)]
    items = pd.concat([parse.news_items(entries, config.symbol_keywords),
                       parse.reddit_items(posts, config.symbol_keywords)], ignore_index=True)
    published = items["published_at"]
    keep = pd.Series(True, index=items.index)
    if start is not None:
        keep &= published >= pd.Timestamp(start, tz="UTC")
    if end is not None:
        keep &= published < pd.Timestamp(end + timedelta(days=1), tz="UTC")
    return items.loc[keep].reset_index(drop=True)


def store_items(conn: psycopg.Connection, items: pd.DataFrame) -> int:
    """Upsert items into ``alternative_data`` by (source_id, item_id); returns rows
    inserted or changed."""
    # COPY writes datetimes as dates: send the full instant as ISO 8601 text
    items = items.assign(published_at=items["published_at"].dt.strftime("%Y-%m-%dT%H:%M:%S%z"))
    with conn.transaction():
        return upsert_rows(conn, "alternative_data", items, ["source_id", "item_id"],
                           [c for c in parse.ITEM_COLUMNS if c not in ("source_id", "item_id")])
