"""Pure, vectorised indicators and the catalog of named features."""
