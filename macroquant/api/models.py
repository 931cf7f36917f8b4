"""Request and response bodies of the API (they make the OpenAPI schema)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from macroquant.auth.roles import Role


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class _In(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ErrorOut(_Out):
    """Every error: what went wrong, in words."""

    detail: str


class LoginIn(_In):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class TokenOut(_Out):
    access_token: str = Field(description="send as `Authorization: Bearer <token>`")
    token_type: Literal["bearer"] = "bearer"
    expires_at: datetime
    username: str
    role: Role


class UserOut(_Out):
    user_id: int
    username: str
    role: Role
    disabled: bool


class UserCreateIn(_In):
    username: str = Field(min_length=2, max_length=32, pattern=r"^[a-z][a-z0-9_.-]{1,31}$")
    password: str = Field(min_length=12, max_length=1024)
    role: Role


class UserChangeIn(_In):
    role: Role | None = None
    disabled: bool | None = None


class SignalOut(_Out):
    as_of: date
    strategy: str
    symbol: str
    strength: float = Field(ge=-1, le=1)
    direction: Literal[-1, 0, 1]
    confidence: float = Field(ge=0, le=1)


class PositionOut(_Out):
    as_of: date
    symbol: str
    asset_class: str
    quantity: float
    average_cost: float
    last_price: float
    market_value: float
    unrealized_pnl: float


class PerformanceOut(_Out):
    as_of: date
    scope: str
    equity: float
    cash: float | None
    daily_pnl: float
    daily_return: float
    drawdown: float = Field(le=0)
    gross_exposure: float
    net_exposure: float
    commission: float


class ReportOut(_Out):
    report_date: date
    kind: Literal["daily", "weekly"]
    path: str
    summary: dict[str, Any]


class StrategyOut(_Out):
    name: str
    strategy_type: str | None
    enabled: bool | None = Field(description="None for a YAML strategy never run yet")
    paused: bool
    pause_reason: str
    changed_by: str | None
    changed_at: datetime | None


class PauseIn(_In):
    reason: str = Field("", max_length=500)


class StageRunOut(_Out):
    run_id: str
    stage: str
    window_start: date
    window_end: date
    status: Literal["running", "success", "failed"]
    started_at: datetime
    finished_at: datetime | None
    message: str


FIRST_RUN_DATE = date(1980, 1, 2)  # the trading calendar's first session


class RunRequestIn(_In):
    start: date = Field(ge=FIRST_RUN_DATE, description="first date of the window (a single "
                        "day runs the last session on or before it)")
    end: date | None = Field(None, ge=FIRST_RUN_DATE,
                             description="last date of the window; default: start")

    @model_validator(mode="after")
    def _ordered(self) -> RunRequestIn:
        if self.end is not None and self.end < self.start:
            raise ValueError("end is before start")
        return self


class RunRequestOut(_Out):
    request_id: int
    requested_by: str
    requested_at: datetime
    window_start: date
    window_end: date
    run_id: str
    status: Literal["queued", "running", "success", "failed"]
    finished_at: datetime | None
    message: str


class KillSwitchOut(_Out):
    state: Literal["ACTIVE", "REDUCING", "HALTED"]
    since: datetime
    actor: str
    reason: str


class ReasonIn(_In):
    reason: str = Field(min_length=1, max_length=500, pattern=r"\S")


class AuditOut(_Out):
    audit_id: int
    at: datetime
    actor: str
    role: str | None
    action: str
    target: str
    outcome: Literal["success", "denied", "failed"]
    client: str
    details: dict[str, Any]


class SecretIn(_In):
    value: str = Field(min_length=1, max_length=65536)


class SecretOut(_Out):
    name: str
    key_fingerprint: str
    updated_at: datetime


class HealthOut(_Out):
    status: Literal["ok"]
    database: Literal["ok"]
