"""Regular expressions for the usual ``Signature-Input`` and ``Signature`` headers: RFC 8941
keys, strings, values and covered components in canonical form, the one-member ``sig1``
headers, and the exact form :class:`~security.http_signatures.HttpSigner` writes. Text they do
not match is left to the full RFC 8941 parser.
"""

from __future__ import annotations

import re

from security.http_signatures.names import LABEL

# The usual headers (one ``sig1`` member, canonical form) are read with regular expressions;
# anything else goes through the full RFC 8941 parser. The fast form only accepts text that is
# already canonical, so its raw inner list is exactly the serialized ``@signature-params``.
_SF_KEY = r"[a-z*][a-z0-9_\-.*]*"
_SF_STRING = r'"[\x20\x21\x23-\x5b\x5d-\x7e]*"'
_SF_VALUE = rf"(?:0|-?[1-9][0-9]{{0,14}}|{_SF_STRING}|[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*)"
_COMPONENT = rf"{_SF_STRING}(?:;{_SF_KEY}(?:={_SF_STRING})?)*"
_FAST_INPUT = re.compile(
    rf"{LABEL}=(\(((?:{_COMPONENT})(?: {_COMPONENT})*)?\)((?:;{_SF_KEY}={_SF_VALUE})*))"
)
_FAST_COMPONENT = re.compile(_COMPONENT)
_FAST_COMPONENT_PARAM = re.compile(rf";({_SF_KEY})(?:=\"([^\"\\\\]*)\")?")
_FAST_PARAM = re.compile(rf";({_SF_KEY})=({_SF_VALUE})")
_FAST_SIGNATURE = re.compile(rf"{LABEL}=:([A-Za-z0-9+/]*={{0,2}}):")


_INNER_LIST = re.compile(rf"(?:{_COMPONENT})(?: {_COMPONENT})*")
_SF_INTEGER = r"(0|[1-9][0-9]{0,14})"
# exactly the form HttpSigner writes (nonce on requests only)
_SIGNER_INPUT = re.compile(
    rf"{LABEL}=(\(([^()]*)\);created={_SF_INTEGER};expires={_SF_INTEGER}"
    r'(?:;nonce="([A-Za-z0-9_-]*)")?;keyid="([A-Za-z0-9._-]*)";alg="([a-z0-9_-]*)")'
)
