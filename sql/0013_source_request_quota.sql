-- Daily request quotas of data sources (fetch control, macroquant/sources/quota.py;
-- described in docs/data-sources.md, "Daily request quotas").
--
-- Free tiers cap requests per day as well as per minute (Alpha Vantage: 25 a day), which the
-- per-minute token bucket does not enforce. For a source whose data_sources.config sets
-- `daily_request_limit`, fetch control counts each call it makes (retries too: the vendor
-- counts them) here, before making it, so that separate processes and runs share one count:
-- one row per source and quota day, the calendar day in the source's `quota_timezone`
-- (default UTC). The increment is atomic (INSERT ... ON CONFLICT DO UPDATE ... WHERE
-- requests < limit), so concurrent runs never exceed the limit between them.
-- `exhausted` is set when the vendor itself answered with its daily-limit message: no
-- request is made for that source for the rest of the quota day, whatever the count says.
-- Rows are never needed after their day; they stay as a record of each day's usage.

CREATE TABLE source_request_counts (
    source_id   text NOT NULL REFERENCES data_sources (source_id) ON DELETE CASCADE,
    quota_day   date NOT NULL,          -- the day in the source's quota_timezone
    requests    integer NOT NULL CHECK (requests >= 0),   -- calls made (counted before each)
    exhausted   boolean NOT NULL DEFAULT false,           -- the vendor said the day is used up
    updated_at  timestamptz NOT NULL,   -- fetch control's clock at the last change
    PRIMARY KEY (source_id, quota_day)
);
