"""The volatility target, told honestly (pure): how much risk the book aimed at, how much
the sizing predicted before trading, how much it realised, and what held it below target."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from macroquant.reports.metrics import annual_volatility


@dataclass(frozen=True)
class VolatilityBudget:
    """``target``: the configured annual volatility; ``ex_ante``: the mean predicted
    volatility of the book after the portfolio scale (``portfolio_diagnostics``);
    ``realised``: the annualised standard deviation of the account's daily returns;
    ``scale_capped_sessions``: sessions whose portfolio scale hit ``max_portfolio_scale``
    (the book could not be levered up to the target); ``clipped_targets``: instrument-days
    cut by the position limit; ``scaled_sessions``: sessions scaled by a gross, net or
    asset-class limit; ``mean_abs_strength``: the average |signal| (1 = every signal at
    full strength); ``sessions``: sessions counted."""

    target: float
    ex_ante: float
    realised: float
    scale_capped_sessions: int
    clipped_targets: int
    scaled_sessions: int
    mean_abs_strength: float
    sessions: int

    def lines(self) -> list[str]:
        """The budget as short lines for a terminal or a report."""
        return [
            f"volatility target {self.target:.1%}: ex-ante {self.ex_ante:.1%}, realised "
            f"{self.realised:.1%} over {self.sessions} sessions",
            f"  held below target by: portfolio scale at its cap on "
            f"{self.scale_capped_sessions} sessions; position limit clipped "
            f"{self.clipped_targets} targets; book scaled by a gross/net/asset-class limit "
            f"on {self.scaled_sessions} sessions; mean |signal| {self.mean_abs_strength:.2f}",
        ]


def volatility_budget(*, target: float, max_portfolio_scale: float,
                      diagnostics: pd.DataFrame, daily_returns: pd.Series,
                      risk_events: pd.DataFrame, strengths: pd.Series) -> VolatilityBudget:
    """The budget of one window from the portfolio stage's diagnostics
    (``predicted_volatility``, ``volatility_scale``), the account's daily returns, the risk
    events (``check_name``, ``outcome``, ``as_of``) and the window's signal strengths."""
    scale = diagnostics["volatility_scale"].astype(float)
    returns = daily_returns.astype(float).dropna()   # sessions counted: those with a return
    limit_events = risk_events[risk_events["check_name"].isin(
        ["max_gross_leverage", "max_net_leverage", "asset_class_cap"])]
    return VolatilityBudget(
        target=target,
        ex_ante=float(diagnostics["predicted_volatility"].astype(float).mean())
        if len(diagnostics) else float("nan"),
        realised=annual_volatility(returns),
        scale_capped_sessions=int((scale >= max_portfolio_scale - 1e-12).sum()),
        clipped_targets=int(((risk_events["check_name"] == "max_position")
                             & (risk_events["outcome"] == "clip")).sum()),
        scaled_sessions=int(limit_events.loc[limit_events["outcome"] == "scale", "as_of"]
                            .nunique()),
        mean_abs_strength=float(strengths.astype(float).abs().mean()) if len(strengths)
        else float("nan"),
        sessions=len(returns))
