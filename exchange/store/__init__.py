"""Storage behind one protocol; ``open_store`` picks the implementation from the database URL."""

from __future__ import annotations

from exchange.store.base import Store, open_store

__all__ = ["Store", "open_store"]
