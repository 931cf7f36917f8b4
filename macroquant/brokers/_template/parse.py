"""Template: vendor payload -> macroquant.brokers.interface records (pure)."""
