"""CLI commands of one area, added to `macroquant` by :func:`register`."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Add this area's subcommands to the top-level parser."""
