"""The store's part of watched national records (the ``watches`` package holds their rules).

- ``types``: the values read and written (``WatchKind``, ``Watch``, ``Snapshot``,
  ``ChangeEvent``, ``RefreshTarget``, ``RefreshRun``);
- ``watch_list``: who watches which record, with which purpose;
- ``snapshots``: the last known version of each record, advanced by compare and set;
- ``changes``: the change feed, written in position order and read per client;
- ``refresh_runs``: leased, resumable refresh passes;
- ``change_reads``: the change feed as the API pages it (``ChangeReads``, sessions of its own).

Tables: ``store.tables.watches``. Every function of the first four modules takes an
``AsyncSession`` and leaves the commit to its caller, so that what must happen together (a
snapshot and the change event it produces; a whole bulk import) is one transaction.
"""
