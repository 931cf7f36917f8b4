"""MacroQuant's HTTP API (FastAPI): read endpoints for signals, positions, performance and
reports, and role-gated operate endpoints (pause a strategy, trigger a run, kill switch).

Build the app with :func:`macroquant.api.app.create_app`; serve it with
``macroquant api serve``. See docs/api.md.
"""
