-- Risk controls: the kill switch (current state + full history) and per-order pre-trade
-- check outcomes in risk_events. Described in docs/risk.md and docs/schema.md.
--
-- Kill switch states:
--   ACTIVE    trading as usual;
--   REDUCING  only orders that reduce |position| pass the order gate;
--   HALTED    no new order passes; the orders stage cancels open orders.
-- Leaving REDUCING or HALTED for ACTIVE is a person's decision (`macroquant risk resume`).
-- `kill_switch` holds exactly one row (the current state; the row is locked while a
-- transition is written, so two transitions never interleave). Every transition is also
-- appended to `kill_switch_history` (who, when, why), never updated or deleted.

CREATE TABLE kill_switch (
    singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    state       text NOT NULL CHECK (state IN ('ACTIVE', 'REDUCING', 'HALTED')),
    since       timestamptz NOT NULL,     -- the `at` of the transition (given, not the clock)
    actor       text NOT NULL CHECK (actor <> ''),
    reason      text NOT NULL CHECK (reason <> '')
);

INSERT INTO kill_switch (singleton, state, since, actor, reason)
VALUES (true, 'ACTIVE', '1970-01-01 00:00:00+00', 'system:install', 'initial state');

CREATE TABLE kill_switch_history (
    event_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    previous_state  text NOT NULL CHECK (previous_state IN ('ACTIVE', 'REDUCING', 'HALTED')),
    state           text NOT NULL CHECK (state IN ('ACTIVE', 'REDUCING', 'HALTED')),
    at              timestamptz NOT NULL,     -- when the decision took effect (given)
    actor           text NOT NULL CHECK (actor <> ''),   -- a person, or 'system:<control>'
    reason          text NOT NULL CHECK (reason <> ''),
    as_of           date,                     -- the pipeline date that triggered it, if any
    recorded_at     timestamptz NOT NULL DEFAULT now()   -- audit only
);
CREATE INDEX kill_switch_history_at_idx ON kill_switch_history (at);

-- Per-order pre-trade checks are written to risk_events with subject 'order:<order ref>'.
-- New outcomes: 'reject' (the order does not go out) and 'reduce' (it goes out smaller).
ALTER TABLE risk_events DROP CONSTRAINT risk_events_outcome_check;
ALTER TABLE risk_events ADD CONSTRAINT risk_events_outcome_check
    CHECK (outcome IN ('pass', 'clip', 'scale', 'block', 'halt', 'reject', 'reduce'));
ALTER TABLE risk_events ADD COLUMN run_id text;
ALTER TABLE risk_events ADD COLUMN reason text NOT NULL DEFAULT '';

-- One row per portfolio-stage date: how the book was sized (docs/risk.md, "Portfolio
-- construction"). predicted_volatility is the book's ex-ante annualised volatility after
-- scaling, as a fraction of trading capital.
CREATE TABLE portfolio_diagnostics (
    as_of                       date PRIMARY KEY,
    diversification_multiplier  double precision NOT NULL CHECK (diversification_multiplier >= 1),
    predicted_volatility        double precision NOT NULL CHECK (predicted_volatility >= 0),
    volatility_scale            double precision NOT NULL CHECK (volatility_scale > 0),
    strategy_weights            jsonb NOT NULL DEFAULT '{}'::jsonb
);
