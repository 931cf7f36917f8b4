"""Plumbing shared by the economic and alternative data vendor adapters.

- :func:`register_source` / :func:`register_series`: upsert a source's ``data_sources`` row
  (new rows are disabled: vendors need the network and often a key) and its
  ``economic_series`` rows, refusing to move a series that another source already owns.
- :func:`resolve_api_key`: the API key named by a source's ``credentials_ref``, from the
  environment variable of the same name or the encrypted secrets store; a
  :class:`MissingCredentialError` naming both when neither has it.
- :func:`http_failure`: a vendor's HTTP status → :class:`SourceError` (429 and 5xx
  transient, the rest permanent).
- :func:`observations_with_lag`: rows for a source without vintages, public a documented
  number of days after their period ends (``vintage_kind = 'publication_lag'``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import psycopg
from pydantic import BaseModel, ValidationError

from macroquant.db.bulk import read_frame, upsert_rows
from macroquant.errors import ConfigError, MissingCredentialError, SourceError

OBSERVATION_COLUMNS = ["series_id", "observation_date", "realtime_start", "value",
                       "vintage_kind", "source_id"]
ConfigT = TypeVar("ConfigT", bound=BaseModel)

SERIES_COLUMNS = ["series_id", "name", "frequency", "units", "asset_class",
                  "publication_lag_days", "notes"]


def register_source(conn: psycopg.Connection, row: Mapping[str, Any]) -> None:
    """Insert one ``data_sources`` row (new rows disabled unless ``row`` says otherwise);
    on a later call only ``kind``, ``adapter`` and ``description`` are refreshed, so a
    user's ``enabled``, ``config``, key name, rate limit, priority and schedule survive a
    re-registration (the ingest stage re-registers every enabled source on each run)."""
    from macroquant.sources.fetch import register_source as register_data_source

    register_data_source(conn, {**row, "enabled": bool(row.get("enabled"))})


def register_source_with_series(
    conn: psycopg.Connection, data_source: Mapping[str, Any], config: Any,
    load_config: Callable[[dict[str, Any] | None], Any],
    series_row: Callable[[Any], Mapping[str, Any]],
) -> None:
    """An economic adapter's ``register`` hook: upsert its ``data_sources`` row, then the
    ``economic_series`` rows of ``config`` — the given config, else the row's own stored
    ``config`` (series a user added) over the defaults — each made by ``series_row``; all
    in one transaction."""
    source_id = data_source["source_id"]
    with conn.transaction():
        register_source(conn, data_source)
        config = config or load_config((source_row(conn, source_id) or {}).get("config"))
        register_series(conn, source_id, [series_row(s) for s in config.series])


def register_series(conn: psycopg.Connection, source_id: str,
                    series: Sequence[Mapping[str, Any]]) -> int:
    """Upsert ``economic_series`` rows of ``source_id``; a ``ConfigError`` if one of the
    ids already belongs to another source (two vendors must not share a series id, or a
    read would mix their vintages). Returns rows inserted or changed."""
    if not series:
        return 0
    frame = pd.DataFrame([{c: s.get(c) for c in SERIES_COLUMNS} for s in series])
    frame["notes"] = frame["notes"].fillna("")
    taken = read_frame(conn, """SELECT series_id, source_id FROM economic_series
                                WHERE series_id = ANY(%s) AND source_id <> %s""",
                       (list(frame["series_id"]), source_id))
    if not taken.empty:
        clash = ", ".join(f"{r.series_id} (owned by '{r.source_id}')"
                          for r in taken.itertuples())
        raise ConfigError(f"data_sources/{source_id}", "series",
                          f"series id already used by another source: {clash}; give this "
                          "source's series a different series_id")
    frame["source_id"] = source_id
    frame["publication_lag_days"] = frame["publication_lag_days"].astype("Int64")
    return upsert_rows(conn, "economic_series", frame, ["series_id"],
                       [c for c in SERIES_COLUMNS if c != "series_id"] + ["source_id"])


def source_row(conn: psycopg.Connection, source_id: str) -> dict[str, Any] | None:
    """The ``data_sources`` row of ``source_id`` as a dict, or None."""
    rows = read_frame(conn, "SELECT * FROM data_sources WHERE source_id = %s", (source_id,))
    return None if rows.empty else rows.iloc[0].to_dict()


def resolve_api_key(source_id: str, secret_name: str, *,
                    environ: Mapping[str, str] | None = None,
                    conn: psycopg.Connection | None = None) -> str:
    """The API key of ``source_id``: the environment variable ``secret_name`` if set, else
    the secret ``secret_name`` in the encrypted store (when ``conn`` is given).

    Raises :class:`MissingCredentialError` naming the secret and the variable."""
    env = os.environ if environ is None else environ
    value = env.get(secret_name, "").strip()
    if value:
        return value
    if conn is not None:
        from macroquant.security.secrets import SecretsError, get_secret

        try:
            return get_secret(conn, secret_name)
        except SecretsError as exc:
            if not str(exc).startswith("no secret named"):
                raise
    raise MissingCredentialError(
        f"source '{source_id}' needs an API key: store it with `macroquant secrets set "
        f"{secret_name} --stdin` (the secret named by data_sources.credentials_ref) or set "
        f"the environment variable {secret_name}")


def is_transient_status(status: int | None) -> bool:
    """HTTP statuses worth retrying: 408 (timeout), 429 (rate limit) and every 5xx."""
    return status is not None and (status in (408, 429) or status >= 500)


def http_failure(source_id: str, status: int | None, detail: str) -> SourceError:
    """A :class:`SourceError` for an HTTP failure, transient for 408/429/5xx."""
    what = f"HTTP {status}" if status is not None else "no HTTP response"
    return SourceError(source_id, f"{what}: {detail}", transient=is_transient_status(status),
                       status=status)


def observations_with_lag(series_id: str, periods: pd.PeriodIndex, values: np.ndarray,
                          lag_days: int, source_id: str) -> pd.DataFrame:
    """Observation rows for a source without vintages: ``observation_date`` is the period's
    first day, ``realtime_start`` its last day plus ``lag_days``; missing values dropped."""
    values = np.asarray(values, dtype=float)
    keep = ~np.isnan(values)
    periods = periods[keep]
    frame = pd.DataFrame({
        "series_id": series_id,
        "observation_date": periods.start_time.normalize().astype("datetime64[ns]"),
        "realtime_start": (periods.end_time.normalize()
                           + pd.Timedelta(days=lag_days)).astype("datetime64[ns]"),
        "value": values[keep],
    })
    frame["vintage_kind"] = "publication_lag"
    frame["source_id"] = source_id
    return frame[OBSERVATION_COLUMNS].sort_values(["series_id", "observation_date"],
                                                  ignore_index=True)


def empty_observations() -> pd.DataFrame:
    """An observations frame with no rows and the hook's columns."""
    return pd.DataFrame({
        "series_id": pd.Series(dtype=str),
        "observation_date": pd.Series(dtype="datetime64[ns]"),
        "realtime_start": pd.Series(dtype="datetime64[ns]"),
        "value": pd.Series(dtype=float),
        "vintage_kind": pd.Series(dtype=str),
        "source_id": pd.Series(dtype=str),
    })


def stored_config_and_key(source_id: str, default_secret: str | None, *,
                          need_config: bool = True, need_key: bool = True,
                          environ: Mapping[str, str] | None = None
                          ) -> tuple[dict[str, Any], str | None]:
    """What a hook called without arguments needs: the ``config`` JSON of the source's
    ``data_sources`` row (``{}`` if absent) and its API key (see :func:`resolve_api_key`;
    the secret's name is the row's ``credentials_ref``, else ``default_secret``).

    The database (from ``MACROQUANT_*`` settings) is opened only when something must be
    read from it: a key in the environment and no config wanted needs no connection."""
    env = os.environ if environ is None else environ
    key: str | None = None
    if need_key and default_secret and env.get(default_secret, "").strip():
        key, need_key = env[default_secret].strip(), False
    if not need_config and not need_key:
        return {}, key
    from macroquant.config.settings import load_settings
    from macroquant.db.connection import connect, database_url

    with connect(database_url(load_settings(dict(env)))) as conn:
        row = source_row(conn, source_id) or {}
        if need_key and default_secret:
            key = resolve_api_key(source_id, row.get("credentials_ref") or default_secret,
                                  environ=env, conn=conn)
    config = row.get("config") or {}
    return (dict(config) if need_config else {}), key


def merged_config(model: type[ConfigT], defaults: ConfigT, stored: Mapping[str, Any] | None,
                  source_id: str) -> ConfigT:
    """``defaults`` with the keys of a data_sources row's ``config`` JSON replacing them; a
    :class:`ConfigError` naming the field when the result is invalid."""
    if not stored:
        return defaults
    try:
        return model.model_validate({**defaults.model_dump(), **stored})
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigError(f"data_sources/{source_id}",
                          "config." + ".".join(map(str, first["loc"])), first["msg"]) from None


def given_config(model: type[ConfigT], defaults: ConfigT,
                 config: ConfigT | Mapping[str, Any] | None, source_id: str) -> ConfigT | None:
    """A hook's ``config`` argument as a model: a model is used as is, a mapping (the
    data_sources row's ``config`` JSON, as the fetch controller passes it) is merged over
    the defaults, and None stays None (the hook then reads the row itself)."""
    if config is None or isinstance(config, model):
        return config
    return merged_config(model, defaults, dict(config), source_id)
