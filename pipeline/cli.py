"""Commands of the teacher stage: ``teachkit data``, ``teachkit teachers``, ``teachkit scores``.

Each command group lives beside the code it drives; this module only mounts them.
"""

from __future__ import annotations

import typer

from teachkit.util.command import CommandGroup

data_app = typer.Typer(cls=CommandGroup, help="Datasets: the bundled demo and manifests of real datasets.", no_args_is_help=True)
teachers_app = typer.Typer(cls=CommandGroup, help="Teacher stage: run every teacher once into the store.", no_args_is_help=True)
scores_app = typer.Typer(cls=CommandGroup, help="Teacher scores computed elsewhere.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add the teacher stage's command groups to the root app."""
    from .bootstrap import cli as bootstrap_cli
    from .datasets import cli as datasets_cli
    from .datasets import corrupt as corrupt_cli
    from .demo import cli as demo_cli
    from .teachers import cli as teachers_cli
    from . import importer_cli

    demo_cli.register(data_app)
    datasets_cli.register(data_app)
    corrupt_cli.register(data_app)
    teachers_cli.register(teachers_app)
    bootstrap_cli.register(teachers_app)
    importer_cli.register(scores_app)
    app.add_typer(data_app, name="data")
    app.add_typer(teachers_app, name="teachers")
    app.add_typer(scores_app, name="scores")
