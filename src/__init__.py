"""Trailmark: a self-hosted, tamper-evident audit trail service."""
