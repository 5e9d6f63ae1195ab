"""``python -m teachkit`` (and ``torchrun ... -m teachkit student train``): the console script."""

from teachkit.cli import app

app()
