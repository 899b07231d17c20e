"""STIX 2.1 object categories the exchange treats differently."""

from __future__ import annotations

# The STIX 2.1 cyber-observable objects (SCOs, section 6): they have no ``created_by_ref``
# (nor ``created``/``modified``). At the exchange their author is the member that owns the
# key that signed them.
OBSERVABLE_TYPES = frozenset(
    {
        "artifact",
        "autonomous-system",
        "directory",
        "domain-name",
        "email-addr",
        "email-message",
        "file",
        "ipv4-addr",
        "ipv6-addr",
        "mac-addr",
        "mutex",
        "network-traffic",
        "process",
        "software",
        "url",
        "user-account",
        "windows-registry-key",
        "x509-certificate",
    }
)


def is_observable(value: object) -> bool:
    """Whether ``value`` is a cyber-observable object (a dict of an SCO type)."""
    return isinstance(value, dict) and value.get("type") in OBSERVABLE_TYPES


# STIX 2.1 industry-sector-ov (section 10.12): the values a member's identity may carry in
# ``sectors``, and so the values of ``exchange admin member add --sector``.
INDUSTRY_SECTORS = (
    "agriculture",
    "aerospace",
    "automotive",
    "chemical",
    "commercial",
    "communications",
    "construction",
    "defense",
    "education",
    "energy",
    "entertainment",
    "financial-services",
    "government",
    "emergency-services",
    "government-national",
    "government-regional",
    "government-local",
    "government-public-services",
    "healthcare",
    "hospitality-leisure",
    "infrastructure",
    "dams",
    "nuclear",
    "water",
    "insurance",
    "manufacturing",
    "mining",
    "non-profit",
    "pharmaceuticals",
    "retail",
    "technology",
    "telecommunications",
    "transportation",
    "utilities",
)

# Every object type of STIX 2.1: SDOs, SROs, the meta objects and the SCOs above.
STIX_TYPES = OBSERVABLE_TYPES | frozenset(
    {
        "attack-pattern",
        "campaign",
        "course-of-action",
        "grouping",
        "identity",
        "incident",
        "indicator",
        "infrastructure",
        "intrusion-set",
        "location",
        "malware",
        "malware-analysis",
        "note",
        "observed-data",
        "opinion",
        "report",
        "threat-actor",
        "tool",
        "vulnerability",
        "relationship",
        "sighting",
        "marking-definition",
        "extension-definition",
        "language-content",
    }
)
