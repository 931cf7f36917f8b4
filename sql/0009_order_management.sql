-- Order management: order lifecycle audit, broker identities, reconciliation, instrument
-- locks, manual position adjustments and execution-algorithm parents.
-- The paper replay of the orders stage keeps writing the same rows as before (the new
-- columns take their defaults); live brokers go through macroquant.execution.oms.

-- ---------------------------------------------------------------- orders
ALTER TABLE orders
    ADD COLUMN strategy         text NOT NULL DEFAULT 'portfolio',  -- 'portfolio' = netted
    ADD COLUMN sequence         integer NOT NULL DEFAULT 1 CHECK (sequence >= 1),
    ADD COLUMN limit_price      double precision CHECK (limit_price > 0),
    ADD COLUMN reference_price  double precision CHECK (reference_price > 0),
    ADD COLUMN broker_order_id  text,                -- the broker's own id, once known
    ADD COLUMN parent_id        text,                -- algo parent (algo_orders.algo_id)
    ADD COLUMN created_at       timestamptz,         -- NULL for the paper replay (dates only)
    ADD COLUMN updated_at       timestamptz;
CREATE INDEX orders_broker_open_idx ON orders (broker, status)
    WHERE status IN ('new', 'submitted', 'partially_filled');
CREATE INDEX orders_parent_idx ON orders (parent_id) WHERE parent_id IS NOT NULL;

-- Every state change of a live order (the paper replay writes final states in bulk).
CREATE TABLE order_events (
    event_id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    client_order_id  text NOT NULL REFERENCES orders (client_order_id) ON DELETE CASCADE,
    from_status      text,
    to_status        text NOT NULL,
    event_time       timestamptz NOT NULL,
    reason           text NOT NULL DEFAULT '',
    details          jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX order_events_order_idx ON order_events (client_order_id);

-- ---------------------------------------------------------------- fills
-- trade_id of a broker fill is '<broker>:<execution id>': a duplicate report is ignored.
ALTER TABLE trades
    ADD COLUMN executed_at   timestamptz,
    ADD COLUMN fee_currency  text;

-- ---------------------------------------------------------------- reconciliation
CREATE TABLE reconciliations (
    recon_id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    broker      text NOT NULL,
    checked_at  timestamptz NOT NULL,
    status      text NOT NULL CHECK (status IN ('ok', 'mismatch', 'failed')),
    details     jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX reconciliations_broker_idx ON reconciliations (broker, checked_at);

-- A mismatch locks its instrument for every broker until a person resolves it.
CREATE TABLE instrument_locks (
    lock_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    instrument_id  integer NOT NULL REFERENCES instruments (instrument_id),
    broker         text NOT NULL,
    locked_at      timestamptz NOT NULL,
    reason         text NOT NULL,
    details        jsonb NOT NULL DEFAULT '{}'::jsonb,
    resolved_at    timestamptz,
    resolved_by    text,
    resolution     text,
    CHECK ((resolved_at IS NULL) = (resolved_by IS NULL)),
    CHECK (resolved_at IS NULL OR length(resolution) > 0)
);
CREATE UNIQUE INDEX instrument_locks_open_idx ON instrument_locks (instrument_id)
    WHERE resolved_at IS NULL;

-- Position changes not caused by a MacroQuant fill, accepted by a person (e.g. a position
-- held before MacroQuant traded the account, or a corporate action).
CREATE TABLE position_adjustments (
    adjustment_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    broker         text NOT NULL,
    instrument_id  integer NOT NULL REFERENCES instruments (instrument_id),
    quantity       double precision NOT NULL CHECK (quantity <> 0 AND quantity <> 'NaN'),
    adjusted_at    timestamptz NOT NULL,
    adjusted_by    text NOT NULL,
    reason         text NOT NULL CHECK (length(reason) > 0)
);

-- ---------------------------------------------------------------- execution algorithms
CREATE TABLE algo_orders (
    algo_id            text PRIMARY KEY,       -- deterministic, like client order ids
    as_of              date NOT NULL,
    strategy           text NOT NULL DEFAULT 'portfolio',
    instrument_id      integer NOT NULL REFERENCES instruments (instrument_id),
    side               text NOT NULL CHECK (side IN ('buy', 'sell')),
    quantity           double precision NOT NULL CHECK (quantity > 0),
    algo               text NOT NULL CHECK (algo IN ('market', 'limit', 'twap', 'vwap')),
    broker             text NOT NULL,
    start_at           timestamptz NOT NULL,
    end_at             timestamptz NOT NULL,
    slices             integer NOT NULL DEFAULT 1 CHECK (slices >= 1),
    max_participation  double precision CHECK (max_participation > 0 AND max_participation <= 1),
    limit_offset_bps   double precision NOT NULL DEFAULT 0,
    limit_timeout_s    double precision CHECK (limit_timeout_s > 0),
    status             text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'done', 'cancelled')),
    params             jsonb NOT NULL DEFAULT '{}'::jsonb,
    CHECK (end_at >= start_at)
);
