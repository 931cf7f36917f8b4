"""Alpaca settings and the names of its two secrets (values live in the secrets store)."""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel, ConfigDict, Field

from macroquant.brokers.tradability import DEFAULT_ASSET_CLASSES, AssetClass
from macroquant.errors import MissingCredentialError


class AlpacaConfig(BaseModel):
    """``paper`` selects Alpaca's paper endpoint (default); ``url_override`` points the
    client elsewhere (a proxy, or the local fake in tests)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    paper: bool = True
    url_override: str | None = None
    api_key_secret: str = "ALPACA_API_KEY"
    secret_key_secret: str = "ALPACA_SECRET_KEY"
    timeout_s: float = Field(10.0, gt=0, description="per HTTP request")
    retry_attempts: int = Field(3, ge=0, description="SDK retries of HTTP 429/504")
    retry_wait_s: float = Field(3.0, ge=0)
    symbol_map: dict[str, str] = Field(default_factory=dict,
                                       description="MacroQuant symbol -> Alpaca symbol")
    asset_classes: tuple[AssetClass, ...] = Field(
        DEFAULT_ASSET_CLASSES["alpaca"],
        description="instruments' asset classes this account trades; others are refused")


def credentials(config: AlpacaConfig, lookup: Callable[[str], str | None]) -> tuple[str, str]:
    """(key id, secret key); a missing one raises MissingCredentialError naming it."""
    values = []
    for name in (config.api_key_secret, config.secret_key_secret):
        value = lookup(name)
        if not value:
            raise MissingCredentialError(
                f"broker 'alpaca' cannot start: the secret {name} is not set; store it with "
                f"`macroquant secrets set {name}` (the paper broker needs no credentials)")
        values.append(value)
    return values[0], values[1]
