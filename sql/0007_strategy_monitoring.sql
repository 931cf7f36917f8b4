-- Strategy monitoring.
-- Paper performance per strategy per day is already in `performance` (scope
-- 'strategy:<name>', written by the reports stage); backtests store theirs here, per
-- backtest run. `strategy_monitoring` holds, per day, strategy and source, the rolling
-- Sharpe ratio and drawdown checked against the bounds in the strategy's YAML
-- (`monitoring:`); a breach is also written to system_logs as a WARNING.

CREATE TABLE strategy_backtest_performance (
    backtest_id    text NOT NULL,
    strategy_id    integer NOT NULL REFERENCES strategies (strategy_id),
    as_of          date NOT NULL,
    equity         double precision NOT NULL CHECK (equity <> 'NaN'),
    daily_return   double precision NOT NULL CHECK (daily_return <> 'NaN'),
    drawdown       double precision NOT NULL CHECK (drawdown <= 0),
    PRIMARY KEY (backtest_id, strategy_id, as_of)
);

CREATE TABLE strategy_monitoring (
    as_of            date NOT NULL,
    strategy_id      integer NOT NULL REFERENCES strategies (strategy_id),
    source           text NOT NULL CHECK (source IN ('paper', 'backtest')),
    source_ref       text NOT NULL DEFAULT '',
    window_sessions  integer NOT NULL CHECK (window_sessions > 0),
    rolling_sharpe   double precision CHECK (rolling_sharpe <> 'NaN'),
    drawdown         double precision NOT NULL CHECK (drawdown <= 0),
    breaches         text[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (as_of, strategy_id, source, source_ref)
);
CREATE INDEX strategy_monitoring_breaches_idx ON strategy_monitoring (as_of)
    WHERE cardinality(breaches) > 0;
