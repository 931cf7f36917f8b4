"""great-expectations suites per dataset, built as code: the declared data-quality contract.

Two suites, each a list of (check name, expectation) pairs run on an ephemeral GX context
(in memory: no project files, no network, analytics off):

- **market bars** (``market_data_staging`` rows): schema, the SQL gate's checks
  (``unknown_instrument``, ``missing_values``, ``non_positive_price`` (ranges),
  ``ohlc_consistency``, ``duplicate``, ``future_timestamp`` (date order: a bar is not dated
  after the pipeline date it was fetched for));
- **economic observations** (``economic_indicators`` rows): schema, ``missing_values``,
  ``vintage_order`` (``realtime_start ≥ observation_date``), ``duplicate`` (one value per
  series, observation and vintage), ``value_finite``, ``vintage_kind``.

The pipeline's gate is the SQL in :mod:`macroquant.validation.audit` (it never reads rows
into Python, which is what makes a bulk load fast). This suite is the readable
definition; ``tests/validation/test_expectations.py`` runs both over the same rows with
planted failures and asserts that every check fails exactly the same rows, so the two
cannot drift apart silently.

Frames are read the way the SQL gate reads staging: NaN is missing, a blank symbol is
missing, and one derived column, ``ohlc_fields_present`` (how many of open/high/low are
given), states the all-or-none OHLC rule. Known difference: the SQL OHLC test allows
1e-9 of rounding; the expectations compare exactly.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

MARKET_DATASET = "market_data"
ECONOMIC_DATASET = "economic"
MARKET_COLUMNS: tuple[str, ...] = ("source_id", "as_of", "row_number", "symbol", "trade_date",
                                   "open", "high", "low", "close", "adj_close", "volume")
ECONOMIC_COLUMNS: tuple[str, ...] = ("series_id", "observation_date", "realtime_start",
                                     "value", "vintage_kind", "source_id")
PRICE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close", "adj_close")
_FLOAT_MAX = float(np.finfo(np.float64).max)


@dataclass(frozen=True)
class CheckOutcome:
    """One check of a suite: the frame index labels of the rows that fail it (a table-level
    check such as ``schema`` fails without rows)."""

    check_name: str
    success: bool
    failing_rows: frozenset[Any]
    expectations: tuple[str, ...]


@dataclass(frozen=True)
class SuiteResult:
    """A suite run: the dataset, the rows evaluated, the outcome per check (in suite order)."""

    dataset: str
    rows: int
    checks: dict[str, CheckOutcome] = field(default_factory=dict)

    @property
    def success(self) -> bool:
        return all(c.success for c in self.checks.values())

    def failing_rows(self) -> dict[str, set[Any]]:
        """Check name → failing row labels, for the checks that have any."""
        return {name: set(c.failing_rows) for name, c in self.checks.items() if c.failing_rows}

    def to_dict(self, labels: pd.Series | None = None) -> dict[str, Any]:
        """JSON-ready summary; ``labels`` maps frame index → a shown row id."""
        def show(rows: frozenset[Any]) -> list[Any]:
            ids = [labels.loc[r] if labels is not None else r for r in rows]
            return sorted((i.item() if isinstance(i, np.generic) else i) for i in ids)

        return {"dataset": self.dataset, "rows": self.rows, "success": self.success,
                "checks": [{"check": c.check_name, "success": c.success,
                            "failing_rows": show(c.failing_rows),
                            "expectations": list(c.expectations)}
                           for c in self.checks.values()]}


def market_bars_suite(known_symbols: Iterable[str]) -> list[tuple[str, Any]]:
    """The market-bars expectations, each tagged with the SQL gate check it states."""
    import great_expectations as gx
    from great_expectations.expectations.row_conditions import Column

    e = gx.expectations
    high_given = Column("high").is_not_null()
    pair = {"or_equal": True, "ignore_row_if": "either_value_is_missing"}
    suite: list[tuple[str, Any]] = [
        ("schema", e.ExpectTableColumnsToMatchSet(column_set=list(MARKET_COLUMNS),
                                                  exact_match=False)),
        ("unknown_instrument", e.ExpectColumnValuesToBeInSet(
            column="symbol", value_set=sorted(set(known_symbols)))),
        ("missing_values", e.ExpectColumnValuesToNotBeNull(column="close")),
        ("missing_values", e.ExpectColumnValuesToNotBeNull(column="trade_date")),
        ("missing_values", e.ExpectColumnValuesToNotBeNull(column="symbol")),
        ("missing_values", e.ExpectColumnValuesToBeInSet(column="ohlc_fields_present",
                                                         value_set=[0, 3])),
    ]
    # positive and finite: the largest float is the upper bound, so +inf fails
    suite += [("non_positive_price", e.ExpectColumnValuesToBeBetween(
        column=c, min_value=0, strict_min=True, max_value=sys.float_info.max))
        for c in PRICE_COLUMNS]
    suite.append(("non_positive_price", e.ExpectColumnValuesToBeBetween(
        column="volume", min_value=0, max_value=sys.float_info.max)))
    # among positive prices only: a price <= 0 is a non_positive_price failure, not also
    # the inconsistency it causes (as the SQL gate)
    positive = Column("positive_prices") == 1
    suite += [("ohlc_consistency", e.ExpectColumnPairValuesAToBeGreaterThanB(
        column_A="high", column_B=b, row_condition=positive, **pair))
        for b in ("open", "close", "low")]
    suite += [("ohlc_consistency", e.ExpectColumnPairValuesAToBeGreaterThanB(
        column_A=a, column_B="low", row_condition=high_given & positive, **pair))
        for a in ("open", "close")]
    suite += [
        ("duplicate", e.ExpectCompoundColumnsToBeUnique(
            column_list=["symbol", "trade_date"], ignore_row_if="any_value_is_missing")),
        ("future_timestamp", e.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="as_of", column_B="trade_date", **pair)),
    ]
    return suite


def economic_suite() -> list[tuple[str, Any]]:
    """The economic-observations expectations (point-in-time vintages)."""
    import great_expectations as gx

    e = gx.expectations
    suite: list[tuple[str, Any]] = [
        ("schema", e.ExpectTableColumnsToMatchSet(column_set=list(ECONOMIC_COLUMNS),
                                                  exact_match=False)),
    ]
    suite += [("missing_values", e.ExpectColumnValuesToNotBeNull(column=c))
              for c in ("series_id", "observation_date", "realtime_start", "value")]
    suite += [
        ("vintage_order", e.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="realtime_start", column_B="observation_date", or_equal=True,
            ignore_row_if="either_value_is_missing")),
        ("duplicate", e.ExpectCompoundColumnsToBeUnique(
            column_list=["series_id", "observation_date", "realtime_start"],
            ignore_row_if="any_value_is_missing")),
        ("value_finite", e.ExpectColumnValuesToBeBetween(
            column="value", min_value=-_FLOAT_MAX, max_value=_FLOAT_MAX)),
        ("vintage_kind", e.ExpectColumnValuesToBeInSet(
            column="vintage_kind", value_set=["vintage", "publication_lag"])),
    ]
    return suite


def prepare_market_frame(bars: pd.DataFrame) -> pd.DataFrame:
    """Staging rows as the SQL gate reads them: NaN and blank symbols missing, dates as
    Timestamps, plus ``ohlc_fields_present`` and ``positive_prices`` (1 when no price is
    <= 0)."""
    frame = bars.copy()
    symbol = frame["symbol"].astype("string").str.strip()
    frame["symbol"] = symbol.where(symbol.ne("") & symbol.notna(), None).astype(object)
    for column in ("as_of", "trade_date"):
        frame[column] = pd.to_datetime(frame[column])
    for column in (*PRICE_COLUMNS, "volume"):
        frame[column] = pd.to_numeric(frame[column]).astype("float64")
    frame["ohlc_fields_present"] = frame[["open", "high", "low"]].notna().sum(axis=1)
    frame["positive_prices"] = (~(frame[["open", "high", "low", "close"]] <= 0).any(axis=1)
                                ).astype("int64")
    return frame


def prepare_economic_frame(rows: pd.DataFrame) -> pd.DataFrame:
    """Economic rows with dates as Timestamps and values as floats."""
    frame = rows.copy()
    for column in ("observation_date", "realtime_start"):
        frame[column] = pd.to_datetime(frame[column])
    frame["value"] = pd.to_numeric(frame["value"]).astype("float64")
    return frame


def _context() -> Any:
    """An in-memory GX context: no project directory, no analytics, no progress bars."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


def run_suite(frame: pd.DataFrame, dataset: str, suite: Sequence[tuple[str, Any]]
              ) -> SuiteResult:
    """Validate ``frame`` (already prepared) against ``suite``; every failing row is listed
    (GX result format ``COMPLETE``)."""
    import great_expectations as gx

    context = _context()
    batch = (context.data_sources.add_pandas(f"macroquant_{dataset}")
             .add_dataframe_asset(dataset)
             .add_batch_definition_whole_dataframe("rows")
             .get_batch(batch_parameters={"dataframe": frame}))
    # Results do not come back in suite order: each expectation carries its check's name.
    for name, expectation in suite:
        expectation.meta = {"check": name}
    expectations = gx.ExpectationSuite(name=f"macroquant_{dataset}",
                                       expectations=[x for _, x in suite])
    validation = batch.validate(expectations, result_format={"result_format": "COMPLETE"})
    outcomes: dict[str, tuple[bool, set[Any], list[str]]] = {
        name: (True, set(), []) for name, _ in suite}
    for result in validation.results:
        name = result.expectation_config.meta["check"]
        success, rows, kinds = outcomes[name]
        if result.exception_info and result.exception_info.get("raised_exception"):
            raise RuntimeError(f"{dataset} suite, check {name}: "
                               f"{result.exception_info.get('exception_message')}")
        rows |= set(result.result.get("unexpected_index_list") or [])
        kinds.append(result.expectation_config.type)
        outcomes[name] = (success and bool(result.success), rows, kinds)
    return SuiteResult(dataset=dataset, rows=len(frame), checks={
        name: CheckOutcome(name, ok, frozenset(rows), tuple(kinds))
        for name, (ok, rows, kinds) in outcomes.items()})


def validate_market_bars(bars: pd.DataFrame, known_symbols: Iterable[str]) -> SuiteResult:
    """Run the market-bars suite over staging rows."""
    return run_suite(prepare_market_frame(bars), MARKET_DATASET, market_bars_suite(known_symbols))


def validate_economic(rows: pd.DataFrame) -> SuiteResult:
    """Run the economic-observations suite over ``economic_indicators`` rows."""
    return run_suite(prepare_economic_frame(rows), ECONOMIC_DATASET, economic_suite())
