"""The Parquet store returns the same panel as the table, and a publish invalidates it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import psycopg

from macroquant.db.bulk import read_frame
from macroquant.features.store import read_panels, store_dir


def test_store_matches_the_table_and_is_rebuilt_after_a_change(loaded_db_url, tmp_path):
    with psycopg.connect(loaded_db_url) as conn:
        first = read_panels(conn, tmp_path)
        files = sorted(p.name for p in store_dir(tmp_path).glob("*.parquet"))
        again = read_panels(conn, tmp_path)
        bars = read_frame(conn, "SELECT instrument_id, trade_date, close FROM market_data")
    expected = bars.pivot(index="trade_date", columns="instrument_id", values="close")
    expected.index = pd.DatetimeIndex(expected.index)
    np.testing.assert_array_equal(first["close"].to_numpy(),
                                  expected.sort_index().sort_index(axis=1).to_numpy())
    pd.testing.assert_frame_equal(first["close"], again["close"])
    assert len(files) == 2
    with psycopg.connect(loaded_db_url) as conn:
        conn.execute("""UPDATE market_data SET close = close * 2, loaded_at = now()
                        WHERE trade_date = (SELECT max(trade_date) FROM market_data)""")
        conn.commit()
        changed = read_panels(conn, tmp_path)
    assert sorted(p.name for p in store_dir(tmp_path).glob("*.parquet")) != files
    assert len(list(store_dir(tmp_path).glob("*.parquet"))) == 2
    last = changed["close"].index[-1]
    np.testing.assert_allclose(changed["close"].loc[last].dropna(),
                               2 * first["close"].loc[last].dropna())
