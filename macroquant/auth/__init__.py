"""Users, roles, password hashing, login sessions, the login rate limit and the audit log.

Nothing here imports FastAPI or Streamlit: the API (:mod:`macroquant.api`), the dashboard
(``macroquant/auth/dashboard_login.py``) and the CLI (``macroquant users ...``) share these functions.
"""
