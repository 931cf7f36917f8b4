"""The built-in paper broker: a simulator sharing its cost model with the backtester."""

from macroquant.execution.paper.simulator import PaperBroker

__all__ = ["PaperBroker"]
