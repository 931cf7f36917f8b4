"""MacroQuant: a systematic macro trading platform.

The daily path is a chain of stages (see :mod:`macroquant.pipeline`) that talk through
PostgreSQL tables; the maths they call lives in pure, vectorised modules.
"""

__version__ = "0.1.0"
