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
from matplotlib.ticker import FuncFormatter, MaxNLocator  # noqa: E402

from macroquant.reports.formatting import formatted  # noqa: E402

A4_LANDSCAPE = (11.69, 8.27)
METRIC_LABELS = {"total_return": ("Total return", "{:.2%}"), "cagr": ("CAGR", "{:.2%}"),
                 "annual_volatility": ("Annual volatility", "{:.2%}"),
                 "sharpe": ("Sharpe (252 d, rf 0)", "{:.2f}"),
                 "max_drawdown": ("Max drawdown", "{:.2%}"), "days": ("Days", "{:.0f}")}


def _dollars(value: float, _position: int | None = None) -> str:
    return f"-${-value:,.0f}" if value < 0 else f"${value:,.0f}"


def _percent(value: float, _position: int | None = None) -> str:
    return f"{value:.1f}%"


def _table_page(pdf: PdfPages, title: str, frame: pd.DataFrame, max_rows: int = 28) -> None:
    figure = plt.figure(figsize=A4_LANDSCAPE)
    figure.suptitle(title, fontsize=13, x=0.05, ha="left")
    axes = figure.add_axes((0.05, 0.05, 0.9, 0.85))
    axes.axis("off")
    if frame.empty:
        axes.text(0, 1, "Nothing to show.", va="top", color="#777")
    else:
        shown = formatted(frame.head(max_rows))
        cells = [list(row) for row in shown.itertuples(index=False)]
        table = axes.table(cellText=cells, colLabels=[str(c) for c in shown.columns],
                           loc="upper left", cellLoc="right")
        table.auto_set_font_size(False)
        table.set_fontsize(8)
        if len(frame) > max_rows:
            axes.text(0, 0, f"… {len(frame) - max_rows} more rows in the HTML report",
                      color="#777")
    pdf.savefig(figure)
    plt.close(figure)


def _first_page(pdf: PdfPages, kind: str, as_of: date, period_start: date,
                portfolio: pd.DataFrame, metrics: dict[str, float]) -> None:
    """Equity over drawdown on the left; the metrics in their own column on the right, so
    that no text sits on a curve; axes in dollars and percent (no "1e6" offset)."""
    figure = plt.figure(figsize=A4_LANDSCAPE)
    grid = figure.add_gridspec(2, 2, width_ratios=[4, 1], height_ratios=[3, 1],
                               left=0.1, right=0.97, top=0.9, bottom=0.08, wspace=0.08,
                               hspace=0.08)
    equity_axes = figure.add_subplot(grid[0, 0])
    drawdown_axes = figure.add_subplot(grid[1, 0], sharex=equity_axes)
    metrics_axes = figure.add_subplot(grid[:, 1])
    period = f"{as_of}" if kind == "daily" else f"{period_start} to {as_of}"
    figure.suptitle(f"MacroQuant {kind} report — {period}", fontsize=14)
    if not portfolio.empty:
        dates = pd.to_datetime(portfolio["as_of"])
        equity_axes.plot(dates, portfolio["equity"].astype(float), color="#1f77b4")
        drawdown_axes.fill_between(dates, portfolio["drawdown"].astype(float) * 100, 0,
                                   color="#d62728", alpha=0.6)
    equity_axes.set_ylabel("Equity (USD)")
    equity_axes.yaxis.set_major_formatter(FuncFormatter(_dollars))
    equity_axes.tick_params(labelbottom=False)
    drawdown_axes.set_ylabel("Drawdown")
    drawdown_axes.yaxis.set_major_formatter(FuncFormatter(_percent))
    metrics_axes.axis("off")
    metrics_axes.set_title("Since the first paper day", fontsize=10, loc="left")
    lines = [(label, fmt.format(metrics[key]))
             for key, (label, fmt) in METRIC_LABELS.items() if key in metrics]
    for row, (label, value) in enumerate(lines):
        y = 0.97 - row * 0.11
        metrics_axes.text(0.0, y, label, va="top", fontsize=9, color="#444")
        metrics_axes.text(0.0, y - 0.045, value, va="top", fontsize=11)
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
    attribution_start: date,
) -> bytes:
    """The report's PDF bytes (frames as for :func:`html_report.render_report`)."""
    buffer = BytesIO()
    # TrueType fonts (not matplotlib's default Type 3): real text with true glyph heights
    with plt.rc_context({"pdf.fonttype": 42}), PdfPages(buffer, metadata={"Title": f"MacroQuant {kind} report {as_of}",
                                    "CreationDate": None, "Creator": "MacroQuant"}) as pdf:
        _first_page(pdf, kind, as_of, period_start, portfolio, metrics)

        figure, (contribution_axes, exposure_axes) = plt.subplots(1, 2, figsize=A4_LANDSCAPE)
        if "strategy" in attribution:
            parts = attribution["strategy"].drop(index="total", errors="ignore")["pnl"]
            parts = parts.sort_values()
            contribution_axes.barh(parts.index.astype(str), parts.to_numpy(),
                                   color=["#2ca02c" if v >= 0 else "#d62728" for v in parts])
        contribution_axes.set_title(f"Contribution by strategy,\n{attribution_start} to {as_of}")
        contribution_axes.xaxis.set_major_formatter(FuncFormatter(_dollars))
        contribution_axes.xaxis.set_major_locator(MaxNLocator(5))
        contribution_axes.set_xlabel("P&L (USD)")
        if not positions.empty:
            by_class = positions.groupby("asset_class")["market_value"].sum().sort_values()
            exposure_axes.barh(by_class.index.astype(str), by_class.to_numpy(), color="#1f77b4")
        exposure_axes.set_title("Net exposure by asset class")
        exposure_axes.xaxis.set_major_formatter(FuncFormatter(_dollars))
        exposure_axes.xaxis.set_major_locator(MaxNLocator(5))
        exposure_axes.set_xlabel("USD")
        figure.tight_layout()
        pdf.savefig(figure)
        plt.close(figure)

        for key, title in (("strategy", "Attribution by strategy"),
                           ("asset_class", "Attribution by asset class"),
                           ("instrument", "Attribution by instrument")):
            if key in attribution:
                _table_page(pdf, f"{title}, {attribution_start} to {as_of}",
                            attribution[key].reset_index(names=key))
        _table_page(pdf, "Positions at the close", positions)
    return buffer.getvalue()
