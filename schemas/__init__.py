"""Canonical models, identifiers, the dossier lifecycle and the national wire formats.

Depends on nothing internal. Modules: ``errors``, ``regions``, ``citizen_id``, ``tax_code``,
``dossier_code``, ``status``, ``times``, ``models``, ``files`` (WSDL/XSD under ``wsdl/``) and
``wire`` (``population``, ``xroad``, ``registry``, ``portal``). docs/design.md lists the names.
"""
