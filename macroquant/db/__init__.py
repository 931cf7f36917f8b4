"""Database access: connections (embedded or by URL), migrations, COPY helpers."""

from macroquant.db.connection import connect, database_url, mask_password, transaction

__all__ = ["connect", "database_url", "mask_password", "transaction"]
