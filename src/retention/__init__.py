"""Retention: per-tenant policies, legal holds, and the job that erases or prunes expired events."""
