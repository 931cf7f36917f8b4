"""The landing rows' bars for the warning checks, read on a connection of its own while
the loader's transaction publishes them.

The warning checks (spikes, gaps, stale; :mod:`macroquant.validation.history_checks`) read
every bar of the window. Read after the publish, that is a second full pass over the new
rows on the same core that has just inserted them, while the other core idles through the
single-core ``INSERT``. When the publish is an append (no stored bar of the file's
instruments in its dates), the window's bars after the publish are exactly the stored bars
(read before it, under the table lock) plus the landing rows that failed no gate check, so
this reader reads the latter and scores them all (numpy) in parallel with the publish. The
loader uses the result only if the publish took the append path without finding more
failures (the deferred duplicate and unknown-symbol checks); otherwise the checks read
``market_data`` as usual.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from datetime import date

from psycopg import sql

from macroquant.db.connection import connect
from macroquant.sources.csv_files.load import landing_rows
from macroquant.validation import history_checks
from macroquant.validation.config import QualityConfig
from macroquant.validation.history_checks import PackedBars

log = logging.getLogger(__name__)

# The bars a publish of the landing rows would store, packed per symbol as
# history_checks packs market_data's (PACK_BARS): NaN adj_close is published as NULL.
_NEW_BARS = """SELECT symbol, {pack}
               FROM (SELECT symbol, date AS trade_date, line,
                            coalesce(NULLIF(adj_close, 'NaN'), close) AS price
                     FROM ({landing}) r) b
               WHERE trade_date BETWEEN %(first)s AND %(end)s AND price > 0
                 AND NOT (line = ANY(%(failed)s))
               GROUP BY symbol"""


class NewBarsReader:
    """On a thread with its own connection: reads the landing rows' bars of the window
    ``start..end`` (lines not in ``failed``), adds ``stored`` (the window's stored bars)
    and scores them (:func:`history_checks.score`). :meth:`result` waits for the scores
    (None if the read failed)."""

    def __init__(self, url: str, start: date, end: date, quality: QualityConfig,
                 failed: Sequence[int], stored: PackedBars) -> None:
        self._window = (start, end, quality)
        self._params = {"first": history_checks.history_start(start, quality), "end": end,
                        "failed": list(failed)}
        self._url, self._stored = url, stored
        self._scored: history_checks.ScoredBars | None = None
        self._thread = threading.Thread(target=self._read, name="csv-new-bars")
        self._thread.start()

    def _read(self) -> None:
        try:
            with connect(self._url) as conn, conn.cursor(binary=True) as cur:
                rows = cur.execute(sql.SQL(_NEW_BARS).format(
                    pack=history_checks.PACK_BARS, landing=landing_rows()),
                    self._params).fetchall()
        except Exception as exc:  # the loader falls back to reading market_data
            log.warning("reading the new bars for the warning checks failed (%s); they "
                        "will be read from market_data after the publish", exc)
            return
        new = [(symbol, bytes(payload)) for symbol, payload in rows]
        self._scored = history_checks.score(history_checks.merge_bars(self._stored, new),
                                            *self._window)

    def result(self) -> history_checks.ScoredBars | None:
        self._thread.join()
        return self._scored
