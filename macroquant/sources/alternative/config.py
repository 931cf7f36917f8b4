"""Alternative data: news headlines from RSS/Atom feeds and Reddit posts, scored with VADER.

Two ``data_sources`` rows (kind ``alternative``, adapter ``alternative``): ``news_rss`` and
``reddit``. Each item's text (title, then summary or self-text) gets VADER's *compound*
score (vaderSentiment 3.3.2): the sum of the words' valences, adjusted for negation,
intensifiers, capitals and punctuation, normalised to [-1, 1] as ``x / sqrt(x² + 15)``;
above 0.05 is usually read as positive and below -0.05 as negative. The method is stored
with each row as ``vader-compound-3.3.2``. Items are tagged with instrument symbols by
cashtag (``$AAPL``) and by configured keywords. No key is needed; Reddit asks for a
descriptive User-Agent.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

NEWS_SOURCE_ID = "news_rss"
REDDIT_SOURCE_ID = "reddit"
SENTIMENT_METHOD = "vader-compound-3.3.2"
REDDIT_URL = "https://www.reddit.com"

DATA_SOURCES: tuple[dict[str, object], ...] = (
    {"source_id": NEWS_SOURCE_ID, "kind": "alternative", "adapter": "alternative",
     "description": "News headlines from RSS/Atom feeds with a VADER compound sentiment score",
     "credentials_ref": None, "rate_limit_per_minute": 30, "priority": 200,
     "schedule": "hourly", "enabled": False},
    {"source_id": REDDIT_SOURCE_ID, "kind": "alternative", "adapter": "alternative",
     "description": "Reddit posts (public JSON listings) with a VADER compound sentiment score",
     "credentials_ref": None, "rate_limit_per_minute": 10, "priority": 200,
     "schedule": "hourly", "enabled": False},
)


class NewsFeed(BaseModel):
    """One RSS 2.0 or Atom feed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    url: str = Field(min_length=1)


class AlternativeConfig(BaseModel):
    """Feeds, subreddits and the symbol tags (symbol → keywords, matched as whole words,
    case-insensitive; a cashtag ``$SYMBOL`` of a listed symbol always matches)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    news_feeds: tuple[NewsFeed, ...] = ()
    subreddits: tuple[str, ...] = ()
    reddit_url: str = REDDIT_URL
    reddit_listing: str = Field(default="new", pattern="^(new|hot|top|rising)$")
    reddit_limit: int = Field(default=100, ge=1, le=100)
    symbol_keywords: dict[str, tuple[str, ...]] = {}
    user_agent: str = "macroquant/0.1 (alternative data reader)"
    timeout_seconds: float = Field(default=20.0, gt=0)


DEFAULT_CONFIG = AlternativeConfig(
    news_feeds=(NewsFeed(name="fed_press", url="https://www.federalreserve.gov/feeds/press_all.xml"),),
    subreddits=("economics",),
    symbol_keywords={"SPX": ("s&p 500", "s&p500"), "AAPL": ("apple", "iphone"),
                     "MSFT": ("microsoft",), "WTI": ("oil", "crude", "opec"),
                     "EURUSD": ("euro", "ecb")},
)
