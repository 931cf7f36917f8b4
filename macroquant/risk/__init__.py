"""Risk limits applied to every target before any order exists."""
