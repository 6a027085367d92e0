"""Database plumbing shared by every store: the declarative ``Base`` and ``make_engine``."""
