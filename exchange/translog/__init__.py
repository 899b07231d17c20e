"""The transparency log's math: RFC 9162 Merkle trees, proofs and signed heads (no I/O)."""
