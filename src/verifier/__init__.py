"""Offline checks of Trailmark's transparency log: Merkle proofs, signed notes and tiles."""
