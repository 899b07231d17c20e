"""JSON Schemas of the exchange's STIX property-extensions, and their extension-definition objects."""

from importlib import resources

DEFINITIONS_FILE = "extension-definitions.json"


def definitions_text() -> str:
    """The exchange's extension definitions, as the file ``extension-definitions.json``
    (a JSON array) holds them: the exchange stores and serves each byte for byte."""
    return (resources.files(__name__) / DEFINITIONS_FILE).read_text("utf-8")
