-- Users, API sessions, login attempts, the audit log, strategy pause flags and run requests.
-- Described in docs/security.md and docs/api.md.
--
-- `users` exists since 0001 (username, role viewer|trader|admin, argon2 password_hash,
-- disabled); this migration adds audit columns to it. Wall-clock columns here are audit
-- data; the only logic that reads them is session expiry and the login rate limit, which
-- compare them with a time passed in by the caller.

ALTER TABLE users
    ADD COLUMN created_at           timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN created_by           text NOT NULL DEFAULT 'system',
    ADD COLUMN password_changed_at  timestamptz NOT NULL DEFAULT now(),
    ADD CONSTRAINT users_username_format CHECK (username ~ '^[a-z][a-z0-9_.-]{1,31}$'),
    ADD CONSTRAINT users_password_hash_argon2 CHECK (password_hash LIKE '$argon2%');

-- Opaque bearer tokens: only the SHA-256 of a token is stored, so a copy of this table
-- (a backup, a leaked dump) cannot be replayed against the API.
CREATE TABLE api_sessions (
    token_sha256  text PRIMARY KEY CHECK (token_sha256 ~ '^[0-9a-f]{64}$'),
    user_id       integer NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    created_at    timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,
    revoked_at    timestamptz,
    client        text NOT NULL DEFAULT '',
    CHECK (expires_at > created_at)
);
CREATE INDEX api_sessions_user_idx ON api_sessions (user_id);

-- Every login attempt, for the rate limit (per username and per client address). The
-- username is stored only when it is a well-formed username ('<invalid>' otherwise), so a
-- password typed into the username field is never kept.
CREATE TABLE login_attempts (
    attempt_id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    attempted_at  timestamptz NOT NULL,
    username      text NOT NULL,
    client        text NOT NULL,
    succeeded     boolean NOT NULL
);
CREATE INDEX login_attempts_username_idx ON login_attempts (username, attempted_at);
CREATE INDEX login_attempts_client_idx ON login_attempts (client, attempted_at);

-- Who did what, when, to what, and whether it was allowed. Append-only by convention:
-- no code path updates or deletes rows.
CREATE TABLE audit_log (
    audit_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at        timestamptz NOT NULL,
    actor     text NOT NULL,               -- a username, '<anonymous>' or 'cli:<os user>'
    role      text,                        -- the actor's role at the time, when known
    action    text NOT NULL,               -- e.g. login, strategy.pause, killswitch.resume
    target    text NOT NULL DEFAULT '',    -- e.g. strategy:trend_following, user:alice
    outcome   text NOT NULL CHECK (outcome IN ('success', 'denied', 'failed')),
    client    text NOT NULL DEFAULT '',
    details   jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_log_at_idx ON audit_log (at);
CREATE INDEX audit_log_actor_idx ON audit_log (actor, at);

-- Operator pause flag per strategy (by name, as in strategies.name and the YAML files).
-- The signals stage reads it: a paused strategy gets no new signals (see docs/api.md).
CREATE TABLE strategy_controls (
    strategy_name  text PRIMARY KEY,
    paused         boolean NOT NULL,
    reason         text NOT NULL DEFAULT '',
    changed_by     text NOT NULL,
    changed_at     timestamptz NOT NULL
);

-- Pipeline runs requested through the API; the run itself is recorded in pipeline_runs
-- under run_id.
CREATE TABLE run_requests (
    request_id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    requested_by  text NOT NULL,
    requested_at  timestamptz NOT NULL,
    window_start  date NOT NULL,
    window_end    date NOT NULL,
    run_id        text NOT NULL,
    status        text NOT NULL CHECK (status IN ('queued', 'running', 'success', 'failed')),
    finished_at   timestamptz,
    message       text NOT NULL DEFAULT '',
    CHECK (window_end >= window_start)
);
CREATE INDEX run_requests_requested_at_idx ON run_requests (requested_at);
