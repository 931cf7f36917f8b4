"""Strategy interface, registry, built-in rules and the YAML loader."""
