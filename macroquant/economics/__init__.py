"""Point-in-time economic data: vintaged reads, CSV loading and signal transforms.

See docs/economic-data.md. ``read_as_of`` / ``read_panel_as_of`` read series as they were
known on a date; ``load_econ_csv`` loads vintages; ``transforms`` normalises for signals.
"""

from __future__ import annotations

from macroquant.economics.econ_csv import EconCsvError, load_econ_csv
from macroquant.economics.point_in_time import (
    econ_show,
    latest_known,
    read_as_of,
    read_panel_as_of,
    read_vintages,
    snapshot,
    transform_panel,
)
from macroquant.economics.transforms import (
    mom_change,
    pop_change,
    release_surprise,
    rolling_zscore,
    yoy_change,
)

__all__ = [
    "EconCsvError", "econ_show", "latest_known", "load_econ_csv", "mom_change", "pop_change",
    "read_as_of", "read_panel_as_of", "read_vintages", "release_surprise", "rolling_zscore",
    "snapshot", "transform_panel", "yoy_change",
]
