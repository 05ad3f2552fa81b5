"""Trailmark's benchmark: `python -m bench` (or `make bench`); `--smoke` for a quick check."""
