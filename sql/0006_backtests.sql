-- Backtests: one row per run in backtest_runs, keyed by a backtest run id; the run's daily
-- equity and cash, its end-of-day positions and its fills hang off that id (deleted with
-- it). Written by `macroquant backtest` (macroquant/backtest/store.py); described in
-- docs/backtesting.md and docs/schema.md. A backtest does not need the strategy to be
-- registered in `strategies`: it names the strategy and keeps the validated configuration.

CREATE TABLE backtest_runs (
    backtest_id      text PRIMARY KEY CHECK (backtest_id <> ''),
    strategy_name    text NOT NULL,
    config           jsonb NOT NULL,             -- the validated strategy file
    config_hash      text NOT NULL,
    source_file      text NOT NULL,
    price_source     text NOT NULL,              -- 'market_data' or the CSV file read
    start_date       date NOT NULL,              -- first and last session simulated
    end_date         date NOT NULL,
    initial_capital  double precision NOT NULL CHECK (initial_capital > 0),
    final_equity     double precision NOT NULL CHECK (final_equity <> 'NaN'),
    execution_price  text NOT NULL CHECK (execution_price IN ('next_open', 'next_close')),
    options          jsonb NOT NULL,             -- sizing, costs, limits as run
    metrics          jsonb NOT NULL,             -- macroquant.reports.metrics keys (NaN as null)
    n_trials         integer NOT NULL DEFAULT 1 CHECK (n_trials >= 1),  -- >1 for a grid
    created_at       timestamptz NOT NULL DEFAULT now(),   -- audit only
    CHECK (end_date >= start_date)
);
CREATE INDEX backtest_runs_strategy_idx ON backtest_runs (strategy_name, created_at);

CREATE TABLE backtest_equity (
    backtest_id  text NOT NULL REFERENCES backtest_runs (backtest_id) ON DELETE CASCADE,
    as_of        date NOT NULL,
    cash         double precision NOT NULL CHECK (cash <> 'NaN'),
    equity       double precision NOT NULL CHECK (equity <> 'NaN'),
    PRIMARY KEY (backtest_id, as_of)
);

-- Non-zero positions at each close (shares in back-adjusted units).
CREATE TABLE backtest_positions (
    backtest_id   text NOT NULL REFERENCES backtest_runs (backtest_id) ON DELETE CASCADE,
    as_of         date NOT NULL,
    symbol        text NOT NULL,
    quantity      double precision NOT NULL CHECK (quantity <> 0 AND quantity <> 'NaN'),
    market_value  double precision NOT NULL CHECK (market_value <> 'NaN'),
    PRIMARY KEY (backtest_id, as_of, symbol)
);

CREATE TABLE backtest_trades (
    backtest_id      text NOT NULL REFERENCES backtest_runs (backtest_id) ON DELETE CASCADE,
    trade_no         integer NOT NULL CHECK (trade_no >= 1),   -- fill order within the run
    signal_date      date NOT NULL,              -- the close the order was decided at
    trade_date       date NOT NULL,
    symbol           text NOT NULL,
    side             text NOT NULL CHECK (side IN ('buy', 'sell')),
    quantity         double precision NOT NULL CHECK (quantity > 0),
    reference_price  double precision NOT NULL CHECK (reference_price > 0),
    price            double precision NOT NULL CHECK (price > 0),
    price_field      text NOT NULL CHECK (price_field IN ('open', 'close')),
    commission       double precision NOT NULL CHECK (commission >= 0),
    slippage_cost    double precision NOT NULL CHECK (slippage_cost >= 0),
    PRIMARY KEY (backtest_id, trade_no),
    CHECK (trade_date > signal_date)
);
CREATE INDEX backtest_trades_symbol_idx ON backtest_trades (backtest_id, symbol, trade_date);
