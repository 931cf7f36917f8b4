"""Position sizing and combination of strategies into one portfolio target."""
