"""Security helpers: encrypted secrets at rest and masking of secrets in logs."""
