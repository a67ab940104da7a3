"""Keys, trust store, WS-Security, HTTP Message Signatures, hardened XML and the replay cache."""
