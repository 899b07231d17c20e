"""TAXII 2.1 protocol pieces that know nothing of HTTP frameworks: media types, filters,
stateless cursors and envelopes."""
