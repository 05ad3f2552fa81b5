"""The stored event: its fields, its table and its committed content, below `auth` and `log`."""
