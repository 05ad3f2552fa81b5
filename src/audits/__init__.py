"""The product: recording, querying, exporting and verifying tamper-evident audit events."""
