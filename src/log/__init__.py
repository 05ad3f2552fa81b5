"""The transparency log: per-tenant RFC 9162 Merkle trees as C2SP tiles and signed checkpoints."""
