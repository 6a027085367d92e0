"""The one list of the modules that declare tables on :class:`hotline12345.db.base.Base`.

Alembic (``db/migrations/env.py``) and every check of the schema read the metadata
through :func:`load_models`, so they all see the same tables. A new table module is added
here, and gets a revision in ``db/migrations/versions``.

The table modules live in their own packages and import ``db.base``; the list imports them
when it is called, not when this module loads, so ``db`` stays below the packages that
use it (tests/test_import_graph.py).
"""

from __future__ import annotations

from sqlalchemy import MetaData

from hotline12345.db.base import Base

__all__ = ["load_models"]


def load_models() -> MetaData:
    """Import every module that declares tables, and return their one metadata."""
    import hotline12345.agents.audit
    import hotline12345.analytics.models
    import hotline12345.calls.models
    import hotline12345.recordings.models
    import hotline12345.sharing.models
    import hotline12345.tickets.models  # noqa: F401

    return Base.metadata
