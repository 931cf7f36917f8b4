"""Order execution: the broker interface, cost models and the paper broker."""
