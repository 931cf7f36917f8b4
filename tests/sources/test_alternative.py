"""Alternative data adapter: RSS/Atom feeds and a Reddit JSON listing replayed through
``requests`` with ``responses``; VADER scores checked against hand computation."""

from __future__ import annotations

import json
import math
from datetime import date
from pathlib import Path

import pandas as pd
import psycopg
import pytest
import responses

from macroquant.db.bulk import read_frame
from macroquant.errors import SourceError
from macroquant.sources import alternative
from macroquant.sources.alternative.config import AlternativeConfig, NewsFeed
from macroquant.sources.alternative.parse import tag_symbols, vader_compound

PAYLOADS = Path(__file__).parent / "payloads" / "alternative"
RSS_URL = "https://news.example.com/markets.rss"
ATOM_URL = "https://cb.example.org/notes.atom"
REDDIT = "https://reddit.test"
CONFIG = AlternativeConfig(
    news_feeds=(NewsFeed(name="wire", url=RSS_URL), NewsFeed(name="cb", url=ATOM_URL)),
    subreddits=("economics",), reddit_url=REDDIT, timeout_seconds=5,
    symbol_keywords={"AAPL": ("apple", "iphone"), "MSFT": ("microsoft",),
                     "WTI": ("oil", "opec"), "EURUSD": ("euro",)})


def _vader_by_hand(valences: list[float]) -> float:
    """VADER's normalisation of a plain sum of word valences (no negation, boosters or
    punctuation emphasis in the sentence): x / sqrt(x² + 15), rounded to 4 places."""
    total = sum(valences)
    return round(total / math.sqrt(total * total + 15), 4)


def test_vader_scores_match_hand_computation() -> None:
    # lexicon valences: warns -0.4, recession -1.8, risk -1.1, unemployment -1.9
    fed = vader_compound("Fed warns of recession risk as unemployment jumps")
    assert fed == pytest.approx(_vader_by_hand([-0.4, -1.8, -1.1, -1.9]), abs=1e-4)
    assert fed == pytest.approx(-0.8020, abs=1e-4)
    # great 3.1
    rally = vader_compound("Microsoft and $AAPL lead a great rally in tech")
    assert rally == pytest.approx(_vader_by_hand([3.1]), abs=1e-4)
    assert rally == pytest.approx(0.6249, abs=1e-4)
    # no word in the lexicon
    assert vader_compound("Oil prices unchanged ahead of OPEC meeting") == 0.0


def test_symbol_tags_by_keyword_and_cashtag() -> None:
    keywords = CONFIG.symbol_keywords
    assert tag_symbols("Microsoft and $AAPL lead", keywords) == ["AAPL", "MSFT"]
    assert tag_symbols("Pineapple prices", keywords) == []  # whole words only
    assert tag_symbols("$wti spikes", keywords) == ["WTI"]
    assert tag_symbols("$TSLA drops", keywords) == []  # only configured symbols


def _serve() -> None:
    responses.get(RSS_URL, body=(PAYLOADS / "markets_rss.xml").read_bytes())
    responses.get(ATOM_URL, body=(PAYLOADS / "markets_atom.xml").read_bytes())
    responses.get(f"{REDDIT}/r/economics/new.json",
                  json=json.loads((PAYLOADS / "r_economics_new.json").read_text()))


@responses.activate
def test_items_from_feeds_and_reddit() -> None:
    _serve()
    items = alternative.fetch_items(config=CONFIG).set_index("item_id")
    assert len(items) == 7  # 3 RSS + 1 Atom + reddit post 1 twice (AAPL, MSFT) + post 2
    apple = items.loc["wire:mw-1001"]
    assert apple["symbol"] == "AAPL" and apple["kind"] == "news"
    # title + summary (HTML stripped): "... record high. Strong iPhone demand lifted revenue."
    assert apple["sentiment_score"] == pytest.approx(0.6124, abs=1e-4)
    fed = items.loc["wire:mw-1002"]
    assert pd.isna(fed["symbol"]) and fed["sentiment_score"] == pytest.approx(-0.802, abs=1e-4)
    assert fed["published_at"] == pd.Timestamp("2024-02-02 19:00", tz="UTC")  # -0500 → UTC
    assert items.loc["wire:mw-1003", "symbol"] == "WTI"
    assert items.loc["cb:urn:example:cb:1", "symbol"] == "EURUSD"
    rally = items.loc[["t3_1ah2c3c#AAPL", "t3_1ah2c3c#MSFT"]]
    assert list(rally["symbol"]) == ["AAPL", "MSFT"]
    assert list(rally["sentiment_score"]) == pytest.approx([0.6249, 0.6249], abs=1e-4)
    assert items.loc["t3_1ah2c3d", "sentiment_score"] == pytest.approx(-0.4767, abs=1e-4)
    assert set(items["sentiment_method"]) == {"vader-compound-3.3.2"}
    assert items["sentiment_score"].between(-1, 1).all()
    assert responses.calls[2].request.headers["User-Agent"].startswith("macroquant")
    assert "limit=100" in responses.calls[2].request.url


@responses.activate
def test_window_and_storage(db_url: str) -> None:
    _serve()
    items = alternative.fetch_items(date(2024, 2, 2), date(2024, 2, 2), config=CONFIG)
    assert sorted(items["item_id"]) == ["cb:urn:example:cb:1", "t3_1ah2c3c#AAPL",
                                        "t3_1ah2c3c#MSFT", "wire:mw-1002"]
    with psycopg.connect(db_url) as conn:
        alternative.register(conn)
        assert alternative.store_items(conn, items) == 4
        assert alternative.store_items(conn, items) == 0  # the same items again: no change
        stored = read_frame(conn, """SELECT item_id, published_at, payload, enabled
                                       FROM alternative_data JOIN data_sources USING (source_id)
                                      ORDER BY item_id""")
    assert stored["published_at"].iloc[-1] == pd.Timestamp("2024-02-02 19:00", tz="UTC")
    assert stored["payload"].iloc[1]["subreddit"] == "economics"
    assert not stored["enabled"].any()


@responses.activate
def test_failures_are_typed() -> None:
    responses.get(RSS_URL, status=429)
    with pytest.raises(SourceError) as caught:
        alternative.fetch_items(config=CONFIG)
    assert (caught.value.source_id, caught.value.transient, caught.value.status) == (
        "news_rss", True, 429)
    responses.replace(responses.GET, RSS_URL, body=b"<html><body>moved</body></html>")
    with pytest.raises(SourceError, match="neither RSS nor Atom") as caught:
        alternative.fetch_items(config=CONFIG)
    assert caught.value.transient is False
