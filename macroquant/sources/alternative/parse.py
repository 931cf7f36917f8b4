"""Feed entries and Reddit posts → ``alternative_data`` rows with a VADER score and
symbol tags. Pure: no network, no clock."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import cache

import pandas as pd
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from macroquant.errors import SourceError
from macroquant.sources.alternative.client import FeedEntry, RedditPost
from macroquant.sources.alternative.config import (
    NEWS_SOURCE_ID,
    REDDIT_SOURCE_ID,
    SENTIMENT_METHOD,
)

ITEM_COLUMNS = ["source_id", "item_id", "published_at", "symbol", "kind", "title", "url",
                "sentiment_score", "sentiment_method", "payload"]
_TAGS = re.compile(r"<[^>]+>")
_CASHTAG = re.compile(r"\$([A-Za-z][A-Za-z.]{0,9})\b")
_MAX_TEXT = 2000


@cache
def _analyzer() -> SentimentIntensityAnalyzer:
    return SentimentIntensityAnalyzer()


def plain_text(text: str) -> str:
    """HTML tags removed and entities decoded, whitespace collapsed."""
    return " ".join(html.unescape(_TAGS.sub(" ", text)).split())


def vader_compound(text: str) -> float:
    """VADER's compound score of ``text`` in [-1, 1] (0.0 for empty text)."""
    return float(_analyzer().polarity_scores(text)["compound"]) if text.strip() else 0.0


def tag_symbols(text: str, symbol_keywords: Mapping[str, Sequence[str]]) -> list[str]:
    """Configured symbols the text mentions, sorted: by cashtag (``$AAPL``) or by one of
    the symbol's keywords as a whole word or phrase (case-insensitive)."""
    lowered = text.lower()
    cashtags = {m.upper() for m in _CASHTAG.findall(text)}
    found = set()
    for symbol, keywords in symbol_keywords.items():
        if symbol.upper() in cashtags or any(
                re.search(rf"(?<!\w){re.escape(k.lower())}(?!\w)", lowered) for k in keywords):
            found.add(symbol)
    return sorted(found)


def _parse_time(source_id: str, text: str) -> datetime:
    try:
        stamp = (parsedate_to_datetime(text) if not text[:4].isdigit()
                 else datetime.fromisoformat(text.replace("Z", "+00:00")))
    except (TypeError, ValueError):
        raise SourceError(source_id, f"publication time {text!r} is neither RFC 822 nor "
                          "ISO 8601", transient=False) from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)  # RFC 822 "-0000": UTC by convention
    return stamp.astimezone(UTC)


def _rows(source_id: str, kind: str, item_id: str, published: datetime, title: str,
          body: str, url: str | None, payload: dict,
          symbol_keywords: Mapping[str, Sequence[str]]) -> list[dict]:
    text = f"{title}. {body}".strip(" .") if body else title
    score = vader_compound(text[:_MAX_TEXT])
    symbols = tag_symbols(text, symbol_keywords) or [None]
    # one row per tagged symbol; the key stays unique by suffixing the symbol
    return [{"source_id": source_id,
             "item_id": item_id if symbol is None or len(symbols) == 1 else f"{item_id}#{symbol}",
             "published_at": published, "symbol": symbol, "kind": kind, "title": title,
             "url": url, "sentiment_score": score, "sentiment_method": SENTIMENT_METHOD,
             "payload": json.dumps(payload, sort_keys=True)}
            for symbol in symbols]


def news_items(entries: Sequence[FeedEntry],
               symbol_keywords: Mapping[str, Sequence[str]]) -> pd.DataFrame:
    """``alternative_data`` rows of feed entries (``item_id`` = ``<feed>:<guid>``)."""
    rows: list[dict] = []
    for entry in entries:
        summary = plain_text(entry.summary)
        rows += _rows(NEWS_SOURCE_ID, "news", f"{entry.feed}:{entry.guid}",
                      _parse_time(NEWS_SOURCE_ID, entry.published), plain_text(entry.title),
                      summary, entry.link, {"feed": entry.feed, "summary": summary},
                      symbol_keywords)
    return _frame(rows)


def reddit_items(posts: Sequence[RedditPost],
                 symbol_keywords: Mapping[str, Sequence[str]]) -> pd.DataFrame:
    """``alternative_data`` rows of Reddit posts (``item_id`` = the post's fullname)."""
    rows: list[dict] = []
    for post in posts:
        rows += _rows(REDDIT_SOURCE_ID, "reddit", post.name,
                      datetime.fromtimestamp(post.created_utc, tz=UTC), post.title,
                      post.selftext, f"https://www.reddit.com{post.permalink}",
                      {"subreddit": post.subreddit, **post.extra}, symbol_keywords)
    return _frame(rows)


def _frame(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=ITEM_COLUMNS)
    frame["published_at"] = pd.to_datetime(frame["published_at"], utc=True)
    frame["sentiment_score"] = frame["sentiment_score"].astype(float)
    return frame
