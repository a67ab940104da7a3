"""Canonical models, identifiers, the dossier lifecycle and the national wire formats.

Depends on nothing internal.
"""
