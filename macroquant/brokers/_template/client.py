"""Template: the adapter implementing macroquant.brokers.interface.Broker."""
