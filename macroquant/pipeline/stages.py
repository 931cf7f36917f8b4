"""The stage order of the daily path. No imports: the DAG file reads it at parse time."""

STAGES: tuple[str, ...] = (
    "ingest", "validate", "features", "signals", "portfolio", "risk", "orders", "reports",
)
