-- Data quality: warning checks next to the gate checks, warnings per row, corporate actions,
-- and a cheaper staging table for bulk loads. Described in docs/schema.md and
-- docs/data-quality.md.

-- data_checks rows are either gate checks ('error': a failed row is quarantined and the
-- date fails the signals gate) or warnings ('warning': the row is published and listed in
-- data_quality_flags; passed stays true, rows_failed counts the flagged rows).
ALTER TABLE data_checks
    ADD COLUMN severity text NOT NULL DEFAULT 'error' CHECK (severity IN ('error', 'warning'));
ALTER TABLE data_checks
    ADD CONSTRAINT data_checks_warning_passes CHECK (severity = 'error' OR passed);

-- One row per flagged bar (spike, gap) or instrument (stale) of a validate run.
CREATE TABLE data_quality_flags (
    as_of         date NOT NULL,      -- pipeline date of the run that raised the flag
    dataset       text NOT NULL DEFAULT 'market_data',
    check_name    text NOT NULL,      -- spike, gap, stale
    symbol        text NOT NULL,
    trade_date    date NOT NULL,      -- the flagged bar (stale: the last stored bar)
    observed      double precision,   -- spike: |move| / mean |move|; gap, stale: sessions
    threshold     double precision,
    reason        text NOT NULL,
    PRIMARY KEY (as_of, dataset, check_name, symbol, trade_date)
);
CREATE INDEX data_quality_flags_symbol_idx ON data_quality_flags (symbol, trade_date);

-- Splits and cash dividends per share, by ex-date. value: split ratio new/old shares
-- (2 for a 2:1 split), or the cash amount per share for a dividend.
CREATE TABLE corporate_actions (
    symbol      text NOT NULL,
    ex_date     date NOT NULL,
    action      text NOT NULL CHECK (action IN ('split', 'dividend')),
    value       double precision NOT NULL CHECK (value > 0 AND value <> 'Infinity'),
    source_id   text NOT NULL REFERENCES data_sources (source_id),
    PRIMARY KEY (symbol, ex_date, action)
);

-- market_data_staging is a landing table: its rows are re-fetchable and are audited before
-- anything is published, so it does not need crash safety (UNLOGGED: no WAL) nor a per-row
-- foreign-key trigger to data_sources (loaders set source_id from a registered row).
ALTER TABLE market_data_staging DROP CONSTRAINT market_data_staging_source_id_fkey;
ALTER TABLE market_data_staging SET UNLOGGED;

-- market_data's references to instruments and data_sources are checked per statement, not
-- per row: a row-level foreign key runs one lookup (and a row lock) per bar, which made a
-- bulk publish several times slower than the insert itself. The statement-level triggers
-- below check the same rules with one anti-join over the statement's rows (transition
-- tables) and raise foreign_key_violation (SQLSTATE 23503) like a foreign key would.
ALTER TABLE market_data DROP CONSTRAINT market_data_instrument_id_fkey;
ALTER TABLE market_data DROP CONSTRAINT market_data_source_id_fkey;

CREATE FUNCTION market_data_check_references() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    bad record;
BEGIN
    SELECT n.instrument_id, n.source_id INTO bad FROM new_rows n
    WHERE NOT EXISTS (SELECT 1 FROM instruments i WHERE i.instrument_id = n.instrument_id)
       OR NOT EXISTS (SELECT 1 FROM data_sources s WHERE s.source_id = n.source_id)
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'market_data row (instrument_id %, source_id %) references an unknown instrument or data source', bad.instrument_id, bad.source_id
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER market_data_references_insert AFTER INSERT ON market_data
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION market_data_check_references();
CREATE TRIGGER market_data_references_update AFTER UPDATE ON market_data
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION market_data_check_references();

CREATE FUNCTION market_data_instrument_referenced() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM old_rows o JOIN market_data m ON m.instrument_id = o.instrument_id
               WHERE NOT EXISTS (SELECT 1 FROM instruments i
                                 WHERE i.instrument_id = o.instrument_id)) THEN
        RAISE EXCEPTION 'an instruments row is still referenced from market_data'
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION market_data_source_referenced() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM old_rows o JOIN market_data m ON m.source_id = o.source_id
               WHERE NOT EXISTS (SELECT 1 FROM data_sources s
                                 WHERE s.source_id = o.source_id)) THEN
        RAISE EXCEPTION 'a data_sources row is still referenced from market_data'
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER instruments_market_data_delete AFTER DELETE ON instruments
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
    EXECUTE FUNCTION market_data_instrument_referenced();
CREATE TRIGGER instruments_market_data_update AFTER UPDATE ON instruments
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
    EXECUTE FUNCTION market_data_instrument_referenced();
CREATE TRIGGER data_sources_market_data_delete AFTER DELETE ON data_sources
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
    EXECUTE FUNCTION market_data_source_referenced();
CREATE TRIGGER data_sources_market_data_update AFTER UPDATE ON data_sources
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
    EXECUTE FUNCTION market_data_source_referenced();
