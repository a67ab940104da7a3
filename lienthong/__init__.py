"""The composition root: settings, the wiring of every part, the server and every command.

``lienthong.settings`` reads the one settings object (config file → environment → flags),
``lienthong.bootstrap`` builds every part from it, ``lienthong.serve`` runs the adapter API
(``adapter_api``, the HTTP face) and ``lienthong.cli`` is the ``lienthong`` command. Nothing
below this package imports it.
"""
