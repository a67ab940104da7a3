"""Watched national records: who watches which citizen or business, their refresh and changes.

Modules: ``registration`` (a watch and the policy that allows it; bulk import of watch lists),
``purposes`` (a citizen watch's purpose: a dossier the client sees, or a standing purpose),
``observations`` (what a re-read means: first sight, no change, or a change of which type),
``diff`` (field-level differences and canonical JSON), ``refresh`` (the refresher: leased,
resumable passes over the watch list), ``verify`` (bulk verification of citizens), ``files``
(CSV / JSON source files), ``rate_budget`` (a token bucket per upstream) and ``errors``.

The store's part is ``store.watches`` (watch list, snapshots, change feed, refresh runs); this
package holds the rules and talks to the national systems through ``connectors``.
"""
