"""Signed SOAP and REST clients to the national systems, with retries and circuit breaking."""
