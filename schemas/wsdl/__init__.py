"""Wire-format files of the population service (WSDL, XSD); see ``schemas.files``."""
