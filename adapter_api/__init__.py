"""The unified adapter API: one signed, authorised front over the national connectors."""
