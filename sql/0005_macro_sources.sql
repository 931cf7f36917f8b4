-- Economic vendor metadata: releases and their dates (FRED/ALFRED), which release each series
-- belongs to, and a view giving every vintage its realtime_end. Described in
-- docs/economic-sources.md.

-- A vendor's statistical release (FRED: "Gross Domestic Product", release_id 53).
CREATE TABLE economic_releases (
    source_id   text NOT NULL REFERENCES data_sources (source_id),
    release_id  text NOT NULL,           -- the vendor's id, as text
    name        text NOT NULL,
    link        text,
    PRIMARY KEY (source_id, release_id)
);

-- Every date on which the release was published (FRED release/dates).
CREATE TABLE economic_release_dates (
    source_id     text NOT NULL,
    release_id    text NOT NULL,
    release_date  date NOT NULL,
    PRIMARY KEY (source_id, release_id, release_date),
    FOREIGN KEY (source_id, release_id) REFERENCES economic_releases (source_id, release_id)
);

-- Which release publishes a series, and the vendor's own id of the series.
CREATE TABLE economic_series_releases (
    series_id         text PRIMARY KEY REFERENCES economic_series (series_id),
    source_id         text NOT NULL,
    release_id        text NOT NULL,
    vendor_series_id  text NOT NULL,
    FOREIGN KEY (source_id, release_id) REFERENCES economic_releases (source_id, release_id)
);

-- Every stored vintage with the last day it was current: the day before the next vintage
-- of the same observation, or 9999-12-31 (ALFRED's convention) for the current one.
CREATE VIEW economic_vintages AS
SELECT series_id, observation_date, realtime_start,
       COALESCE(lead(realtime_start) OVER w - 1, DATE '9999-12-31') AS realtime_end,
       value, vintage_kind, source_id
  FROM economic_indicators
WINDOW w AS (PARTITION BY series_id, observation_date ORDER BY realtime_start);
