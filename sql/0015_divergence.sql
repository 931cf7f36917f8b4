-- The divergence monitor (macroquant/reports/divergence.py): per account (broker), session
-- and cause, how far the account's real orders and fills are from the engine's fill model
-- on the same orders, in the base currency (positive: the account did worse). Written by
-- the reports stage for its window (idempotency key: as_of in the window, per broker).
CREATE TABLE divergence (
    as_of    date NOT NULL,
    broker   text NOT NULL,
    cause    text NOT NULL CHECK (cause IN ('fill_price', 'costs', 'timing', 'missed',
                                            'data_revised')),
    amount   double precision NOT NULL CHECK (amount <> 'NaN'),
    orders   integer NOT NULL CHECK (orders >= 0),
    PRIMARY KEY (as_of, broker, cause)
);
