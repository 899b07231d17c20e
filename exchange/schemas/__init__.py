"""JSON Schemas of the exchange's STIX property-extensions, and their extension-definition objects."""
