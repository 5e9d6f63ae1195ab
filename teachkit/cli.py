"""The `teachkit` console script: each stage registers its own commands.

* ``pipeline.cli``: ``teachkit data ...``, ``teachkit teachers ...``, ``teachkit scores ...``
* ``stores.cli``: ``teachkit sql``
* ``stores.audit.cli``: ``teachkit captions audit``, ``teachkit captions measure``
* ``student.cli``: ``teachkit student ...``, ``teachkit search``

Heavy imports (torch, transformers) happen inside commands, so ``teachkit --help`` and
``teachkit sql`` start fast.
"""

from __future__ import annotations

import typer

import pipeline.cli
import stores.audit.cli
import stores.cli
import student.cli

app = typer.Typer(
    name="teachkit",
    help="Knowledge distillation for text-to-video retrieval from precomputed teacher scores.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
for module in (pipeline.cli, stores.cli, stores.audit.cli, student.cli):
    module.register(app)


if __name__ == "__main__":
    app()
