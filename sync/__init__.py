"""Workers that deliver dossiers and their events to the national portal, in order, once."""
