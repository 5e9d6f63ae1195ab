"""Commands of the `student` package for the `teachkit` console script."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this package's commands to the root app."""
