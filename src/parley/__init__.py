"""Parley: train, evaluate and serve LLM negotiators and mediators."""

__version__ = "0.1.0"


class ParleyError(Exception):
    """A user-facing error: the message says what is wrong and how to fix it (no traceback)."""
