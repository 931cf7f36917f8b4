-- A stage that finished but left part of its work undone (orders unsent, instruments locked
-- or refused, strategies that raised) is recorded 'degraded', with the reasons in message.
ALTER TABLE pipeline_runs DROP CONSTRAINT pipeline_runs_status_check;
ALTER TABLE pipeline_runs ADD CONSTRAINT pipeline_runs_status_check
    CHECK (status IN ('running', 'success', 'failed', 'interrupted', 'degraded'));

-- 'unknown': the broker accepted the order but its fills could not be read; the next run
-- looks it up at the broker and resolves it. It is an open state.
ALTER TABLE orders DROP CONSTRAINT orders_status_check;
ALTER TABLE orders ADD CONSTRAINT orders_status_check
    CHECK (status IN ('new', 'submitted', 'partially_filled', 'unknown', 'filled',
                      'cancelled', 'rejected', 'expired'));
DROP INDEX orders_broker_open_idx;
CREATE INDEX orders_broker_open_idx ON orders (broker, status)
    WHERE status IN ('new', 'submitted', 'partially_filled', 'unknown');
