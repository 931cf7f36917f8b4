-- Corporate actions applied to the paper account (the orders stage's replay, and the book
-- backtest in memory): on its ex-date, before the open, a split multiplies the position held
-- at the previous close by its ratio, and a cash dividend credits quantity x amount per
-- share to cash (a short position pays it). One row per action on a held position;
-- the orders stage rewrites the rows of its window (idempotency key: as_of from start).
CREATE TABLE account_actions (
    as_of            date NOT NULL,                  -- the ex-date
    instrument_id    integer NOT NULL REFERENCES instruments (instrument_id),
    action           text NOT NULL CHECK (action IN ('split', 'dividend')),
    value            double precision NOT NULL CHECK (value > 0),  -- ratio, or cash per share
    quantity_before  double precision NOT NULL,
    quantity_after   double precision NOT NULL,
    cash             double precision NOT NULL,      -- credited (negative: paid on a short)
    PRIMARY KEY (as_of, instrument_id, action)
);
