"""Read news feeds (RSS 2.0 / Atom XML) and Reddit listings (public JSON) with ``requests``,
into records that mirror the vendors' own fields."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

import requests

from macroquant.economics.vendors import http_failure
from macroquant.errors import SourceError

ATOM = "{http://www.w3.org/2005/Atom}"


@dataclass(frozen=True)
class FeedEntry:
    """An RSS ``<item>`` or Atom ``<entry>``: ``published`` is the feed's own text
    (RFC 822 in RSS, ISO 8601 in Atom)."""

    feed: str
    guid: str
    title: str
    link: str | None
    published: str
    summary: str


@dataclass(frozen=True)
class RedditPost:
    """The ``data`` of a ``t3`` child of a Reddit listing (the fields used here)."""

    name: str
    title: str
    selftext: str
    created_utc: float
    permalink: str
    subreddit: str
    extra: dict[str, Any] = field(default_factory=dict)


def _get(source_id: str, url: str, timeout: float, **kwargs: Any) -> requests.Response:
    try:
        response = requests.get(url, timeout=timeout, **kwargs)
    except (requests.Timeout, requests.ConnectionError) as exc:
        raise SourceError(source_id, f"cannot read {url}: {exc}", transient=True) from None
    if response.status_code != 200:
        raise http_failure(source_id, response.status_code, f"{url}: {response.reason}")
    return response


def _text(element: ET.Element | None) -> str:
    return "".join(element.itertext()).strip() if element is not None else ""


def parse_feed(source_id: str, feed: str, body: bytes) -> list[FeedEntry]:
    """Entries of an RSS 2.0 or Atom document."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise SourceError(source_id, f"feed {feed}: not XML ({exc})", transient=False) from None
    if root.tag == f"{ATOM}feed":
        entries = []
        for entry in root.iter(f"{ATOM}entry"):
            link = entry.find(f"{ATOM}link")
            published = entry.find(f"{ATOM}published")
            entries.append(FeedEntry(
                feed=feed, guid=_text(entry.find(f"{ATOM}id")),
                title=_text(entry.find(f"{ATOM}title")),
                link=link.get("href") if link is not None else None,
                published=_text(published if published is not None
                                else entry.find(f"{ATOM}updated")),
                summary=_text(entry.find(f"{ATOM}summary"))))
        return entries
    if root.tag != "rss":
        raise SourceError(source_id, f"feed {feed}: root <{root.tag}> is neither RSS nor Atom",
                          transient=False)
    return [FeedEntry(feed=feed,
                      guid=_text(item.find("guid")) or _text(item.find("link")),
                      title=_text(item.find("title")), link=_text(item.find("link")) or None,
                      published=_text(item.find("pubDate")),
                      summary=_text(item.find("description")))
            for item in root.iter("item")]


def fetch_feed(source_id: str, feed: str, url: str, user_agent: str,
               timeout: float) -> list[FeedEntry]:
    """Download and parse one feed."""
    response = _get(source_id, url, timeout, headers={"User-Agent": user_agent})
    return parse_feed(source_id, feed, response.content)


def parse_listing(source_id: str, payload: Any) -> list[RedditPost]:
    """Posts of a Reddit ``Listing`` (``{"kind": "Listing", "data": {"children": ...}}``)."""
    if not isinstance(payload, dict) or payload.get("kind") != "Listing":
        raise SourceError(source_id, "answer is not a Reddit Listing", transient=False)
    posts = []
    for child in payload["data"].get("children", []):
        if child.get("kind") != "t3":
            continue
        data = child["data"]
        posts.append(RedditPost(
            name=data["name"], title=data.get("title", ""), selftext=data.get("selftext", ""),
            created_utc=float(data["created_utc"]), permalink=data.get("permalink", ""),
            subreddit=data.get("subreddit", ""),
            extra={k: data.get(k) for k in ("score", "num_comments", "author", "url")}))
    return posts


def fetch_subreddit(source_id: str, base_url: str, subreddit: str, listing: str, limit: int,
                    user_agent: str, timeout: float) -> list[RedditPost]:
    """One page of ``/r/<subreddit>/<listing>.json``."""
    url = f"{base_url.rstrip('/')}/r/{subreddit}/{listing}.json"
    response = _get(source_id, url, timeout, params={"limit": limit, "raw_json": 1},
                    headers={"User-Agent": user_agent})
    try:
        payload = response.json()
    except ValueError:
        raise SourceError(source_id, f"{url}: answer is not JSON", transient=False) from None
    return parse_listing(source_id, payload)
