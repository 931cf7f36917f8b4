"""Daily and weekly reports as HTML pages with Plotly charts and tables (pure rendering).

The page loads ``plotly.min.js`` from its own folder (written once beside the reports), so
reports open offline and stay small.
"""

from __future__ import annotations

import html
from datetime import date
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from macroquant.reports.formatting import formatted

PLOTLY_JS = "plotly.min.js"
# Named, not Plotly's process-wide default, which an import such as Streamlit's changes: the
# same report looks the same whatever else the process loaded.
TEMPLATE = "plotly"


def ensure_plotly_js(directory: Path) -> None:
    """Write plotly.js into ``directory`` once (reports reference it)."""
    target = directory / PLOTLY_JS
    if not target.exists():
        target.write_text(get_plotlyjs(), encoding="utf-8")


def _equity_figure(portfolio: pd.DataFrame) -> go.Figure:
    figure = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3],
                           vertical_spacing=0.05, subplot_titles=("Equity", "Drawdown"))
    figure.add_trace(go.Scatter(x=portfolio["as_of"], y=portfolio["equity"], name="equity",
                                line={"color": "#1f77b4"}), row=1, col=1)
    figure.add_trace(go.Scatter(x=portfolio["as_of"], y=portfolio["drawdown"] * 100,
                                name="drawdown %", fill="tozeroy", line={"color": "#d62728"}),
                     row=2, col=1)
    figure.update_layout(height=480, margin={"t": 40, "b": 20}, showlegend=False,
                         template=TEMPLATE)
    figure.update_yaxes(title_text="Equity", tickformat="$,.0f", row=1, col=1)
    figure.update_yaxes(title_text="Drawdown", ticksuffix="%", row=2, col=1)
    return figure


def _contribution_figure(table: pd.DataFrame, title: str) -> go.Figure:
    parts = table.drop(index="total", errors="ignore")["pnl"].sort_values()
    colours = ["#2ca02c" if value >= 0 else "#d62728" for value in parts]
    figure = go.Figure(go.Bar(x=parts.to_numpy(), y=parts.index, orientation="h",
                              marker_color=colours))
    figure.update_layout(title=title, height=140 + 28 * len(parts), margin={"t": 40, "b": 50},
                         template=TEMPLATE, yaxis={"automargin": True},
                         xaxis={"tickformat": "$,.0f"},
                         xaxis_title="P&L (USD)")
    return figure


def _strategies_figure(strategies: pd.DataFrame) -> go.Figure:
    figure = go.Figure()
    for scope, rows in strategies.groupby("scope"):
        growth = (1.0 + rows["daily_return"].astype(float)).cumprod() - 1.0
        figure.add_trace(go.Scatter(x=rows["as_of"], y=growth * 100,
                                    name=str(scope).removeprefix("strategy:")))
    figure.update_layout(title="Strategy cumulative return (notional, before costs)",
                         template=TEMPLATE,
                         height=360, margin={"t": 40, "b": 20}, yaxis_title="%")
    return figure


def _exposure_figure(positions: pd.DataFrame) -> go.Figure:
    by_class = positions.groupby("asset_class")["market_value"].sum().sort_values()
    figure = go.Figure(go.Bar(x=by_class.to_numpy(), y=by_class.index, orientation="h"))
    figure.update_layout(title="Net exposure by asset class", height=300,
                         template=TEMPLATE, yaxis={"automargin": True},
                         margin={"t": 40, "b": 20}, xaxis_title="USD")
    return figure


def _table(frame: pd.DataFrame, empty: str) -> str:
    if frame.empty:
        return f"<p class='empty'>{html.escape(empty)}</p>"
    return formatted(frame).to_html(index=False, border=0, classes="table")


def _metrics_table(metrics: dict[str, float]) -> str:
    labels = {"total_return": ("Total return", "{:.2%}"), "cagr": ("CAGR", "{:.2%}"),
              "annual_volatility": ("Annual volatility", "{:.2%}"),
              "sharpe": ("Sharpe (252 d, rf 0)", "{:.2f}"),
              "max_drawdown": ("Max drawdown", "{:.2%}"), "days": ("Days", "{:.0f}")}
    rows = "".join(f"<tr><th>{label}</th><td>{fmt.format(metrics[key])}</td></tr>"
                   for key, (label, fmt) in labels.items() if key in metrics)
    return f"<table class='table'>{rows}</table>"


def _attribution_section(tables: dict[str, pd.DataFrame]) -> str:
    titles = {"strategy": "By strategy", "signal_type": "By signal type",
              "asset_class": "By asset class", "instrument": "By instrument"}
    parts = []
    for key, title in titles.items():
        if key not in tables:
            continue
        table = tables[key].reset_index(names=key)
        parts.append(f"<h3>{title}</h3>{_table(table, 'Nothing to attribute.')}")
    return "".join(parts)


def render_report(
    kind: str,
    as_of: date,
    period_start: date,
    portfolio: pd.DataFrame,
    strategies: pd.DataFrame,
    positions: pd.DataFrame,
    orders: pd.DataFrame,
    risk_summary: pd.DataFrame,
    metrics: dict[str, float],
    attribution: dict[str, pd.DataFrame],
    attribution_start: date,
    divergence: pd.DataFrame | None = None,
    volatility_budget: list[str] | None = None,
) -> str:
    """The report's HTML. Frames: ``portfolio`` and ``strategies`` are performance rows up to
    ``as_of``, ``positions`` end-of-day positions with ``symbol, asset_class``, ``orders``
    the orders sent after the close of ``as_of``, ``risk_summary`` counts of risk outcomes
    over the period, ``attribution`` the summary tables (see
    :mod:`macroquant.reports.attribution`) of ``attribution_start`` to ``as_of``,
    ``divergence`` each account's total per cause over the period
    (:mod:`macroquant.reports.divergence`), ``volatility_budget`` the period's volatility
    target against the book's ex-ante and realised volatility (lines)."""
    charts = [_equity_figure(portfolio)]
    if "strategy" in attribution:
        charts.append(_contribution_figure(
            attribution["strategy"],
            f"Contribution by strategy, {attribution_start} to {as_of}"))
    if not strategies.empty:
        charts.append(_strategies_figure(strategies))
    if not positions.empty:
        charts.append(_exposure_figure(positions))
    # fixed div ids: the same inputs give the same file (plotly's default is a random UUID)
    chart_html = "".join(c.to_html(full_html=False, include_plotlyjs=False, div_id=f"chart-{n}")
                         for n, c in enumerate(charts))
    last = portfolio.iloc[-1] if not portfolio.empty else None
    in_period = portfolio[pd.to_datetime(portfolio["as_of"]) >= pd.Timestamp(period_start)]
    period_pnl = float(in_period["daily_pnl"].sum()) if len(in_period) else 0.0
    headline = ("<p>No portfolio history yet.</p>" if last is None else
                f"<p class='headline'>Equity <b>{last['equity']:,.2f}</b> · "
                f"{'day' if kind == 'daily' else 'week'} P&amp;L <b>{period_pnl:,.2f}</b> · "
                f"drawdown <b>{last['drawdown']:.2%}</b></p>")
    period = f"{as_of}" if kind == "daily" else f"{period_start} to {as_of}"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>MacroQuant {kind} report {as_of}</title>
<script src="{PLOTLY_JS}"></script>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; padding: 0 1em;
  max-width: 1100px; color: #222; }}
h1 {{ font-size: 1.6em; }} h2 {{ font-size: 1.2em; margin-top: 1.6em; }}
.table {{ border-collapse: collapse; }} .table td, .table th {{ padding: 3px 10px;
  border-bottom: 1px solid #ddd; text-align: right; }} .headline {{ font-size: 1.1em; }}
.empty {{ color: #777; }}
</style></head><body>
<h1>MacroQuant {kind} report — {period}</h1>
{headline}
<h2>Performance since the first paper day</h2>
{_metrics_table(metrics)}
{"".join(f"<p class='budget'>{html.escape(line)}</p>" for line in volatility_budget or [])}
{chart_html}
<h2>Attribution, {attribution_start} to {as_of}</h2>
<p>Strategy P&amp;L is each strategy's notional book before netting and costs; the
<code>execution_and_netting</code> line is what they do not explain. P&amp;L share is the
share of the gross P&amp;L (winners positive, losers negative). Volatility contribution is
the Euler split of the realised daily P&amp;L volatility (annualised, USD).</p>
{_attribution_section(attribution)}
<h2>Positions at the close</h2>
{_table(positions, "No open positions.")}
<h2>Orders sent after the close (fill at the next session)</h2>
{_table(orders, "No orders today.")}
<h2>Risk checks in the period</h2>
{_table(risk_summary, "No risk events.")}
<h2>Account vs the engine's fill model (divergence) in the period</h2>
<p>Each account's fills against the fills the engine's model gives the same orders,
per cause, USD; positive means the account did worse. The paper account is the model: 0.</p>
{_table(divergence if divergence is not None else pd.DataFrame(), "No order to compare.")}
</body></html>
"""
