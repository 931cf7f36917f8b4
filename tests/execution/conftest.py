"""Fixtures shared with the other execution test folders (see tests/brokers/support.py)."""

from tests.brokers.support import fake_alpaca, universe_url  # noqa: F401
