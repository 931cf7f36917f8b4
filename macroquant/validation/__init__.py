"""Data-quality checks used by the validate stage (write-audit-publish)."""
