"""Bulk writes through COPY: plain COPY into a table, and COPY into a temporary staging
table followed by ``INSERT … ON CONFLICT`` (upsert that leaves identical rows untouched).
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
import pandas as pd
import psycopg
from psycopg import sql


def _csv_payload(frame: pd.DataFrame, columns: Sequence[str]) -> str:
    """Render ``frame[columns]`` as CSV where an empty unquoted field is NULL."""
    out = frame.loc[:, list(columns)].copy()
    for column in out.columns:
        values = out[column]
        if pd.api.types.is_datetime64_any_dtype(values):
            out[column] = values.dt.strftime("%Y-%m-%d")
        elif pd.api.types.is_float_dtype(values):
            # repr-exact floats so a rerun writes byte-identical values
            out[column] = values.map(lambda x: "" if np.isnan(x) else repr(float(x)))
    buffer = io.StringIO()
    out.to_csv(buffer, index=False, header=False, na_rep="")
    return buffer.getvalue()


def copy_rows(
    conn: psycopg.Connection, table: str, frame: pd.DataFrame, columns: Sequence[str],
    *, text_columns: Sequence[str] = (),
) -> int:
    """COPY ``frame[columns]`` into ``table``; return the number of rows written.

    An empty field is NULL, except in ``text_columns``, where it is the empty string
    (COPY's ``FORCE_NOT_NULL``)."""
    if frame.empty:
        return 0
    options = sql.SQL("FORMAT csv")
    if text_columns:
        options = sql.SQL("FORMAT csv, FORCE_NOT_NULL ({})").format(
            sql.SQL(", ").join(map(sql.Identifier, text_columns)))
    statement = sql.SQL("COPY {} ({}) FROM STDIN WITH ({})").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns)), options
    )
    with conn.cursor() as cur, cur.copy(statement) as copy:
        copy.write(_csv_payload(frame, columns))
    return len(frame)


def upsert_rows(
    conn: psycopg.Connection,
    table: str,
    frame: pd.DataFrame,
    key_columns: Sequence[str],
    value_columns: Sequence[str],
) -> int:
    """Upsert ``frame`` into ``table`` by ``key_columns`` through COPY into a temp table.

    A row whose values are unchanged is left as it is (so audit columns such as
    ``loaded_at`` keep the time the value first arrived). Returns rows inserted or changed.
    """
    if frame.empty:
        return 0
    columns = [*key_columns, *value_columns]
    staging = f"_stage_{table}"
    column_list = sql.SQL(", ").join(map(sql.Identifier, columns))
    # Same column types as the target, none of its constraints (keys may be generated).
    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(staging)))
    conn.execute(
        sql.SQL("CREATE TEMP TABLE {stage} ON COMMIT DROP AS SELECT {columns} FROM {table} "
                "WITH NO DATA").format(stage=sql.Identifier(staging), columns=column_list,
                                       table=sql.Identifier(table))
    )
    copy_rows(conn, staging, frame, columns)
    if value_columns:
        updates = sql.SQL(", ").join(
            sql.SQL("{c} = EXCLUDED.{c}").format(c=sql.Identifier(c)) for c in value_columns
        )
        changed = sql.SQL(" OR ").join(
            sql.SQL("{t}.{c} IS DISTINCT FROM EXCLUDED.{c}").format(
                t=sql.Identifier(table), c=sql.Identifier(c)
            )
            for c in value_columns
        )
        conflict = sql.SQL("DO UPDATE SET {} WHERE {}").format(updates, changed)
    else:
        conflict = sql.SQL("DO NOTHING")
    statement = sql.SQL(
        "INSERT INTO {table} ({columns}) SELECT {columns} FROM {stage} "
        "ON CONFLICT ({keys}) {conflict}"
    ).format(
        table=sql.Identifier(table),
        columns=column_list,
        stage=sql.Identifier(staging),
        keys=sql.SQL(", ").join(map(sql.Identifier, key_columns)),
        conflict=conflict,
    )
    return conn.execute(statement).rowcount


def read_frame(
    conn: psycopg.Connection, query: str | sql.Composed, params: Sequence[object] = ()
) -> pd.DataFrame:
    """Run a query and return its rows as a DataFrame with the cursor's column names."""
    with conn.cursor() as cur:
        cur.execute(query, params)
        names = [d.name for d in cur.description or []]
        return pd.DataFrame(cur.fetchall(), columns=names)
