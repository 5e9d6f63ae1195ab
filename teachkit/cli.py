"""The `teachkit` console script: each stage registers its own commands.

* ``pipeline.cli``: ``teachkit data ...``, ``teachkit teachers ...``, ``teachkit scores ...``
* ``teachkit.sql_shell``: ``teachkit sql``
* ``teachkit.audit.cli``: ``teachkit captions audit``, ``teachkit captions measure``
* ``student.cli``: ``teachkit student ...``, ``teachkit search``
* ``teachkit.report.cli``: ``teachkit report``

Every error a user can cause prints ``error: <one line>`` on stderr (:mod:`teachkit.util.command`).
Heavy imports (torch, transformers) happen inside commands, so ``teachkit --help`` and
``teachkit sql`` start fast.
"""

from __future__ import annotations

import typer

import pipeline.cli
import teachkit.audit.cli
import teachkit.sql_shell
import student.cli
import teachkit.report.cli
from teachkit.util.command import CommandGroup

app = typer.Typer(
    name="teachkit",
    cls=CommandGroup,  # one error style: `error: <one line>`, exit 2 for usage and input, 1 at run time
    help="Knowledge distillation for text-to-video retrieval from precomputed teacher scores.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
for module in (pipeline.cli, teachkit.sql_shell, teachkit.audit.cli, student.cli, teachkit.report.cli):
    module.register(app)


if __name__ == "__main__":
    app()
