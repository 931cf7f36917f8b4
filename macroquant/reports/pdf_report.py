"""The same report as a PDF (pure rendering with matplotlib).

Plotly needs a browser (kaleido drives Chrome) to export static images, and a user's machine
may have none, so the PDF draws the same figures from the same frames with matplotlib:
equity and drawdown, contribution by strategy, exposure by asset class, then the metrics,
attribution and positions tables. The file carries no creation date, so rendering the same
inputs twice gives the same bytes.
"""

from __future__ import annotations

from datetime import date
from io import BytesIO

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.backends.backend_pdf import PdfPages  # noqa: E402

A4_LANDSCAPE = (11.69, 8.27)
METRIC_LABELS = {"total_return": ("Total return", "{:.2%}"), "cagr": ("CAGR", "{:.2%}"),
                 "annual_volatility": ("Annual volatility", "{:.2%}"),
                 "sharpe": ("Sharpe (252 d, rf 0)", "{:.2f}"),
                 "max_drawdown": ("Max drawdown", "{:.2%}"), "days": ("Days", "{:.0f}")}


def _format(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.4f}" if abs(value) < 10 and value != int(value) else f"{value:,.2f}"
    return str(value)


def _table_page(pdf: PdfPages, title: str, frame: pd.DataFrame, max_rows: int = 28) -> None:
    figure = plt.figure(figsize=A4_LANDSCAPE)
    figure.suptitle(title, fontsize=13, x=0.05, ha="left")
    axes = figure.add_axes((0.05, 0.05, 0.9, 0.85))
    axes.axis("off")
    if frame.empty:
        axes.text(0, 1, "Nothing to show.", va="top", color="#777")
    else:
        shown = frame.head(max_rows)
        cells = [[_format(v) for v in row] for row in shown.itertuples(index=False)]
        table = axes.table(cellText=cells, colLabels=[str(c) for c in shown.columns],
                           loc="upper left", cellLoc="right")
        table.auto_set_font_size(False)
        table.set_fontsize(8)
        if len(frame) > max_rows:
            axes.text(0, 0, f"… {len(frame) - max_rows} more rows in the HTML report",
                      color="#777")
    pdf.savefig(figure)
    plt.close(figure)


def render_pdf(
    kind: str,
    as_of: date,
    period_start: date,
    portfolio: pd.DataFrame,
    positions: pd.DataFrame,
    metrics: dict[str, float],
    attribution: dict[str, pd.DataFrame],
) -> bytes:
    """The report's PDF bytes (frames as for :func:`html_report.render_report`)."""
    buffer = BytesIO()
    with PdfPages(buffer, metadata={"Title": f"MacroQuant {kind} report {as_of}",
                                    "CreationDate": None, "Creator": "MacroQuant"}) as pdf:
        figure, (equity_axes, drawdown_axes) = plt.subplots(
            2, 1, figsize=A4_LANDSCAPE, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
        period = f"{as_of}" if kind == "daily" else f"{period_start} to {as_of}"
        figure.suptitle(f"MacroQuant {kind} report — {period}", fontsize=14)
        if not portfolio.empty:
            dates = pd.to_datetime(portfolio["as_of"])
            equity_axes.plot(dates, portfolio["equity"].astype(float), color="#1f77b4")
            drawdown_axes.fill_between(dates, portfolio["drawdown"].astype(float) * 100, 0,
                                       color="#d62728", alpha=0.6)
        equity_axes.set_ylabel("Equity (USD)")
        drawdown_axes.set_ylabel("Drawdown %")
        lines = [f"{label}: {fmt.format(metrics[key])}"
                 for key, (label, fmt) in METRIC_LABELS.items() if key in metrics]
        equity_axes.text(0.01, 0.97, "\n".join(lines), transform=equity_axes.transAxes,
                         va="top", fontsize=9, family="monospace",
                         bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "#ccc"})
        pdf.savefig(figure)
        plt.close(figure)

        figure, (contribution_axes, exposure_axes) = plt.subplots(1, 2, figsize=A4_LANDSCAPE)
        if "strategy" in attribution:
            parts = attribution["strategy"].drop(index="total", errors="ignore")["pnl"]
            parts = parts.sort_values()
            contribution_axes.barh(parts.index.astype(str), parts.to_numpy(),
                                   color=["#2ca02c" if v >= 0 else "#d62728" for v in parts])
        contribution_axes.set_title(f"Contribution by strategy, {period_start} to {as_of}")
        contribution_axes.set_xlabel("P&L (USD)")
        if not positions.empty:
            by_class = positions.groupby("asset_class")["market_value"].sum().sort_values()
            exposure_axes.barh(by_class.index.astype(str), by_class.to_numpy(), color="#1f77b4")
        exposure_axes.set_title("Net exposure by asset class")
        exposure_axes.set_xlabel("USD")
        figure.tight_layout()
        pdf.savefig(figure)
        plt.close(figure)

        for key, title in (("strategy", "Attribution by strategy"),
                           ("asset_class", "Attribution by asset class"),
                           ("instrument", "Attribution by instrument")):
            if key in attribution:
                _table_page(pdf, title, attribution[key].reset_index(names=key))
        _table_page(pdf, "Positions at the close", positions)
    return buffer.getvalue()
