"""Paper broker settings: the cost model shared with the backtester; no secrets."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from macroquant.brokers.tradability import DEFAULT_ASSET_CLASSES, AssetClass


class PaperConfig(BaseModel):
    """Costs in basis points (as ``TradingConfig.broker``); ``state_path`` keeps the
    simulated account between processes (None: in memory only)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    commission_bps: float = Field(1.0, ge=0, le=500)
    slippage_bps: float = Field(2.0, ge=0, le=500)
    state_path: Path | None = None
    asset_classes: tuple[AssetClass, ...] = Field(
        DEFAULT_ASSET_CLASSES["paper"],
        description="instruments' asset classes this account trades; others are refused")
