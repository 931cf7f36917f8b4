"""Eurostat's SDMX 2.1 API through the ``eurostat`` package (``requests`` underneath).

``eurostat.get_data_df`` reads the dataflow and data structure (SDMX-ML) to order the
filter, then the data as gzip TSV. The package retries each request four times, prints its
problems instead of raising them, and fails with whatever error follows; this module turns
those outcomes into :class:`SourceError` (its printed text kept in the message).
"""

from __future__ import annotations

import contextlib
import io

import eurostat
import pandas as pd
import requests

from macroquant.economics.vendors import http_failure
from macroquant.errors import SourceError
from macroquant.sources.eurostat.config import SOURCE_ID


def fetch_dataset(dataset: str, filters: dict[str, str], start_period: str | None,
                  timeout: float) -> pd.DataFrame:
    """The dataset's rows for ``filters`` as the package returns them: one column per
    dimension (the last named ``<dim>\\TIME_PERIOD``) then one column per period
    (``2023-10``, ``2023-Q4``, ``2023``), float or None; an empty frame when no data."""
    eurostat.set_requests_args(timeout=timeout)
    filter_pars = {k: [v] for k, v in filters.items()}
    if start_period:
        filter_pars["startPeriod"] = start_period  # type: ignore[assignment]
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            frame = eurostat.get_data_df(dataset, filter_pars=filter_pars)
    except requests.HTTPError as exc:
        status = exc.response.status_code if exc.response is not None else None
        raise http_failure(SOURCE_ID, status, f"{dataset}: {exc}") from None
    except (requests.Timeout, requests.ConnectionError) as exc:
        raise SourceError(SOURCE_ID, f"{dataset}: cannot reach Eurostat: {exc}",
                          transient=True) from None
    except ValueError:
        raise SourceError(SOURCE_ID, f"dataset {dataset!r} not found "
                          f"({printed.getvalue().strip() or 'no dataflow'})",
                          transient=False) from None
    except Exception as exc:  # noqa: BLE001 - the package fails with arbitrary errors
        # typically an error page after the package's four retries (5xx, maintenance)
        raise SourceError(SOURCE_ID, f"{dataset}: unreadable answer after the eurostat "
                          f"package's retries ({type(exc).__name__}: {exc}; "
                          f"{printed.getvalue().strip()[:200]})", transient=True) from None
    return frame if frame is not None else pd.DataFrame()
