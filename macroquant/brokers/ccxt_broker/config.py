"""ccxt settings and the names of the exchange's secrets."""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel, ConfigDict, Field

from macroquant.brokers.tradability import DEFAULT_ASSET_CLASSES, AssetClass
from macroquant.errors import MissingCredentialError


class CcxtConfig(BaseModel):
    """``exchange`` is a ccxt exchange id; ``api_url`` replaces every entry of the
    exchange's ``urls['api']`` (a proxy, a sandbox, or the local fake in tests)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    exchange: str = Field("coinbase", pattern="^[a-z0-9]+$")
    api_url: str | None = None
    api_key_secret: str = "CCXT_API_KEY"
    secret_secret: str = "CCXT_SECRET"
    password_secret: str | None = None      # exchanges that need a passphrase
    quote_currency: str = Field("USD", pattern="^[A-Z]{3,5}$")
    timeout_ms: int = Field(10_000, gt=0)
    client_order_id_param: str = Field(
        "client_order_id", description="the create_order param that carries our id: "
        "Coinbase's native 'client_order_id' (ccxt replaces the unified 'clientOrderId' with "
        "its own id there); 'clientOrderId' for most other exchanges")
    balance_params: dict[str, bool | str] = Field(
        default_factory=lambda: {"v3": True},
        description="fetch_balance params (Coinbase: the Advanced Trade accounts endpoint)")
    symbol_map: dict[str, str] = Field(
        default_factory=dict, description="MacroQuant symbol -> ccxt symbol (default: "
                                          "'BTC-USD' -> 'BTC/USD')")
    asset_classes: tuple[AssetClass, ...] = Field(
        DEFAULT_ASSET_CLASSES["ccxt"],
        description="instruments' asset classes this account trades; others are refused")


def credentials(config: CcxtConfig, lookup: Callable[[str], str | None]) -> dict[str, str]:
    """ccxt's credential fields; a missing secret raises MissingCredentialError naming it."""
    wanted = {"apiKey": config.api_key_secret, "secret": config.secret_secret}
    if config.password_secret:
        wanted["password"] = config.password_secret
    out = {}
    for field, name in wanted.items():
        value = lookup(name)
        if not value:
            raise MissingCredentialError(
                f"broker 'ccxt' ({config.exchange}) cannot start: the secret {name} is not "
                f"set; store it with `macroquant secrets set {name}` (the paper broker needs "
                "no credentials)")
        out[field] = value
    return out
