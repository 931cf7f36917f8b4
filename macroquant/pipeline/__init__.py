"""The eight stages of the daily path, each ``run(context) -> rows written``:
ingest → validate → features → signals → portfolio → risk → orders → reports.

Each module's docstring names its input tables, output tables and idempotency key.
"""
