"""The SQL store: SQLite by default, PostgreSQL by URL; schema managed by Alembic."""

from core.store.engine import open_store
from core.store.store import Store

__all__ = ["Store", "open_store"]
