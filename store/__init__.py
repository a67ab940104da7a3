"""SQLAlchemy store: dossiers, the outbox, the message log and the access log."""
