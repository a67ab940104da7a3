"""Mock national endpoints (population SOAP, business registry REST, public service portal)."""
