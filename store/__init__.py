"""SQLAlchemy store: dossiers, the outbox, the message log, the access log and watched records.

Watched records' part is ``store.watches`` (the rules are in the ``watches`` package). Cursors of
every paged read: ``store.cursors``.
"""
