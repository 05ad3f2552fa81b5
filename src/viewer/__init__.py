"""The viewer: read-only tokens that product teams mint for their customers, and the page."""
