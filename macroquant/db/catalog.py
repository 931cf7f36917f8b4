"""What tables the database holds, read from PostgreSQL's catalog (never a hand-kept list)."""

from __future__ import annotations

from typing import Any

from psycopg import sql


def user_tables(conn: Any) -> list[tuple[str, str]]:
    """(schema, table) of every ordinary table outside the system schemas, sorted."""
    rows = conn.execute(
        """SELECT n.nspname, c.relname FROM pg_class c
           JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
             AND n.nspname NOT LIKE 'pg\\_%%' AND NOT c.relispartition
           ORDER BY 1, 2""").fetchall()
    return [(schema, table) for schema, table in rows]


def table_key(schema: str, table: str) -> str:
    """``table`` in the public schema, ``schema.table`` elsewhere."""
    return table if schema == "public" else f"{schema}.{table}"


def qualified(schema: str, table: str) -> sql.Composed:
    """The quoted ``schema.table`` identifier for a query."""
    return sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(table))


def row_counts(conn: Any) -> dict[str, int]:
    """Row count of every user table, keyed by :func:`table_key`."""
    return {table_key(schema, table): int(conn.execute(
                sql.SQL("SELECT count(*) FROM {}").format(qualified(schema, table))).fetchone()[0])
            for schema, table in user_tables(conn)}
