"""Mapping between the canonical models and the national systems' wire formats.

``population`` (SOAP bodies, lxml) · ``xroad`` (X-Road 4.0 SOAP headers) · ``registry`` (business
registry JSON) · ``portal`` (National Public Service Portal JSON). Readers raise
``schemas.errors.InvalidWireRecord`` listing each bad field, never a value.
"""
