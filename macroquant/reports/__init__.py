"""Metrics, per-strategy performance and report rendering."""
