-- The strategy folder is the book (issue 18): each signals run reconciles `strategies`
-- with the strategy files, records what it added, changed and retired, and which version
-- of each strategy (file, config hash, git commit) was in the book on each session.
-- Crash-only runs: a stage's row carries the process that runs it and the key of the
-- PostgreSQL advisory lock that process holds while the stage runs.

-- git commit of the file's last committed version (NULL: not in a git work tree, no git,
-- or never committed); git_dirty: the file differs from that commit (or is untracked).
ALTER TABLE strategies
    ADD COLUMN git_commit      text,
    ADD COLUMN git_dirty       boolean,
    ADD COLUMN retired_on      date,
    ADD COLUMN retired_reason  text NOT NULL DEFAULT '';

-- One row per reconciliation event. A rerun that finds nothing changed records nothing.
CREATE TABLE strategy_book_changes (
    change_id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id                text NOT NULL,
    window_start          date NOT NULL,
    window_end            date NOT NULL,
    strategy_name         text NOT NULL,
    change                text NOT NULL CHECK (change IN ('added', 'changed', 'retired')),
    source_file           text NOT NULL DEFAULT '',
    previous_source_file  text NOT NULL DEFAULT '',
    git_commit            text,
    summary               text NOT NULL,
    details               jsonb NOT NULL DEFAULT '{}'::jsonb,
    recorded_at           timestamptz NOT NULL
);
CREATE INDEX strategy_book_changes_window_idx ON strategy_book_changes (window_end);

-- Which version of each strategy of the book was in force on each session.
CREATE TABLE strategy_versions (
    as_of         date NOT NULL,
    strategy_id   integer NOT NULL REFERENCES strategies (strategy_id),
    config_hash   text NOT NULL,
    source_file   text NOT NULL,
    git_commit    text,
    git_dirty     boolean,
    state         text NOT NULL CHECK (state IN ('active', 'paused', 'retired_held')),
    PRIMARY KEY (as_of, strategy_id)
);

ALTER TABLE pipeline_runs DROP CONSTRAINT pipeline_runs_status_check;
ALTER TABLE pipeline_runs ADD CONSTRAINT pipeline_runs_status_check
    CHECK (status IN ('running', 'success', 'failed', 'interrupted'));
ALTER TABLE pipeline_runs
    ADD COLUMN pid           integer,
    ADD COLUMN host          text,
    ADD COLUMN liveness_key  integer;

-- Keys of the advisory locks that running stages hold (pg_advisory_lock(namespace, key)).
CREATE SEQUENCE pipeline_run_liveness_seq AS integer MAXVALUE 2147483647 CYCLE;
