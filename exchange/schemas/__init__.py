"""JSON Schemas of the exchange's STIX property-extensions, and their extension-definition objects."""

from importlib import resources

DEFINITIONS_FILE = "extension-definitions.json"


def definitions_text() -> str:
    """The exchange's extension definitions, as the file ``extension-definitions.json``
    (a JSON array) holds them: the exchange stores and serves each byte for byte."""
    return (resources.files(__name__) / DEFINITIONS_FILE).read_text("utf-8")


# Who the extension definitions name as their creator (``created_by_ref`` of each): the
# project that defines the extensions, not a member; a test checks it against the file.
DEFINITIONS_AUTHOR = "identity--e68c77c7-fccf-4174-960b-488397db05f5"
