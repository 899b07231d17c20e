"""STIX 2.1 checks: structure and validity of posted objects, TLP and audience markings."""
