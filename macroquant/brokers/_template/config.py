"""Template: the adapter's settings (non-secret) and the names of its secrets."""
