"""IBKR settings. The login lives in TWS / IB Gateway; MacroQuant needs the account id,
kept as a secret (``IBKR_ACCOUNT``) so that it never sits in a YAML file."""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel, ConfigDict, Field

from macroquant.brokers.tradability import DEFAULT_ASSET_CLASSES, AssetClass
from macroquant.errors import MissingCredentialError


class IbkrConfig(BaseModel):
    """Where TWS / IB Gateway listens (4002: IB Gateway's paper port) and how to route."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(4002, ge=1, le=65535)
    client_id: int = Field(17, ge=0)
    account_secret: str = "IBKR_ACCOUNT"
    exchange: str = "SMART"
    currency: str = Field("USD", pattern="^[A-Z]{3}$")
    timeout_s: float = Field(10.0, gt=0)
    symbol_map: dict[str, str] = Field(default_factory=dict,
                                       description="MacroQuant symbol -> IB symbol")
    asset_classes: tuple[AssetClass, ...] = Field(
        DEFAULT_ASSET_CLASSES["ibkr"],
        description="instruments' asset classes this account trades; others are refused")


def credentials(config: IbkrConfig, lookup: Callable[[str], str | None]) -> str:
    """The account id; a missing one raises MissingCredentialError naming the secret."""
    value = lookup(config.account_secret)
    if not value:
        raise MissingCredentialError(
            f"broker 'ibkr' cannot start: the secret {config.account_secret} (the IB account "
            f"id) is not set; store it with `macroquant secrets set {config.account_secret}` "
            "(the paper broker needs no credentials)")
    return value
