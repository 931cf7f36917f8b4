"""Stage 4 — signals: run every enabled strategy over the window's features.

Input: ``data_checks`` (gate: every session of the window validated with no failure),
``features``, ``instruments``, the strategy YAML files.
Output: ``strategies`` (upserted from the YAML), ``signals`` rows ``(as_of, strategy_id,
instrument_id, strength, direction, confidence)``.
Idempotency key: ``as_of`` in the window (signals replaced).

Confidence is 1.0 for the built-in rules (deterministic functions of the data); it is
there for model-based strategies that report their own.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import psycopg
from psycopg.types.json import Jsonb

from macroquant.db.bulk import copy_rows, read_frame
from macroquant.db.connection import transaction
from macroquant.errors import ConfigError, DataQualityError
from macroquant.pipeline.context import StageContext
from macroquant.strategies.loader import LoadedStrategy, load_strategies


def check_data_gate(conn: psycopg.Connection, context: StageContext) -> None:
    """Raise unless every session of the window passed validation."""
    checks = read_frame(conn, """SELECT as_of, bool_and(passed) AS passed FROM data_checks
                                 WHERE dataset = 'market_data' AND as_of BETWEEN %s AND %s
                                 GROUP BY as_of""", (context.start, context.end))
    validated = dict(zip(checks["as_of"], checks["passed"], strict=True))
    failed = [d for d in context.sessions if validated.get(d) is False]
    missing = [d for d in context.sessions if d not in validated]
    if failed or missing:
        parts = []
        if failed:
            parts.append(f"data checks failed on {', '.join(map(str, failed[:10]))}")
        if missing:
            parts.append(f"no validation recorded for {', '.join(map(str, missing[:10]))}")
        raise DataQualityError(f"signals: {'; '.join(parts)}: no signal is produced for the "
                               "window. Fix the data (see the quarantine table) and rerun.")


def register_strategies(conn: psycopg.Connection, strategies: list[LoadedStrategy]) -> dict:
    """Upsert the strategies table from the YAML files; return name → strategy_id."""
    for item in strategies:
        conn.execute(
            """INSERT INTO strategies (name, strategy_type, config, config_hash, source_file,
                                       enabled)
               VALUES (%s, %s, %s, %s, %s, %s)
               ON CONFLICT (name) DO UPDATE SET strategy_type = EXCLUDED.strategy_type,
                   config = EXCLUDED.config, config_hash = EXCLUDED.config_hash,
                   source_file = EXCLUDED.source_file, enabled = EXCLUDED.enabled
               WHERE strategies.config_hash IS DISTINCT FROM EXCLUDED.config_hash
                  OR strategies.source_file IS DISTINCT FROM EXCLUDED.source_file
                  OR strategies.enabled IS DISTINCT FROM EXCLUDED.enabled""",
            (item.config.name, item.config.type, Jsonb(item.config.model_dump(mode="json")),
             item.config_hash, item.source_file, item.config.enabled),
        )
    rows = conn.execute("SELECT name, strategy_id FROM strategies").fetchall()
    return dict(rows)


def load_feature_panels(
    conn: psycopg.Connection, context: StageContext, names: set[str]
) -> dict[str, pd.DataFrame]:
    """Wide panels (window sessions × instrument_id) of the named features."""
    rows = read_frame(conn, """SELECT as_of, instrument_id, feature, value FROM features
                               WHERE as_of BETWEEN %s AND %s AND feature = ANY(%s)""",
                      (context.start, context.end, sorted(names)))
    rows["as_of"] = pd.to_datetime(rows["as_of"])
    index = pd.DatetimeIndex(pd.to_datetime(context.sessions))
    panels = {}
    for name in names:
        subset = rows[rows["feature"] == name]
        panel = subset.pivot(index="as_of", columns="instrument_id", values="value")
        panels[name] = panel.astype(float).reindex(index)
    return panels


def universe_ids(item: LoadedStrategy, instrument_ids: dict[str, int]) -> list[int]:
    """instrument_ids of a strategy's universe; an unknown symbol is a config error."""
    unknown = [s for s in item.config.universe if s not in instrument_ids]
    if unknown:
        raise ConfigError(item.source_file, "universe",
                          f"unknown instruments {unknown}; known: {sorted(instrument_ids)}")
    return [instrument_ids[s] for s in item.config.universe]


def run(context: StageContext) -> dict[str, int]:
    """Generate and store every enabled strategy's signals for the window."""
    strategies = load_strategies(context.settings.strategies_dir)
    with transaction(context.url) as conn:
        check_data_gate(conn, context)
        strategy_ids = register_strategies(conn, strategies)
        instrument_ids = dict(conn.execute("SELECT symbol, instrument_id FROM instruments")
                              .fetchall())
        needed = set().union(*(s.strategy.required_features() for s in strategies))
        panels = load_feature_panels(conn, context, needed)
        frames = []
        for item in strategies:
            columns = universe_ids(item, instrument_ids)
            inputs = {name: panels[name].reindex(columns=columns)
                      for name in item.strategy.required_features()}
            strength = item.strategy.generate(inputs).clip(-1.0, 1.0)
            long = strength.stack().rename("strength").reset_index()
            long.columns = ["as_of", "instrument_id", "strength"]
            long["strategy_id"] = strategy_ids[item.config.name]
            frames.append(long)
        signals = pd.concat(frames, ignore_index=True).dropna(subset=["strength"])
        signals["direction"] = np.sign(signals["strength"]).astype(int)
        signals["confidence"] = 1.0
        signals = signals.sort_values(["as_of", "strategy_id", "instrument_id"])
        conn.execute("DELETE FROM signals WHERE as_of BETWEEN %s AND %s",
                     (context.start, context.end))
        written = copy_rows(conn, "signals", signals, ["as_of", "strategy_id", "instrument_id",
                                                       "strength", "direction", "confidence"])
    return {"signals": written, "strategies": len(strategies)}
