"""``python -m bench.probe_loads ARGS...``: the ``teachkit`` CLI, counting teacher model loads.

Runs ``teachkit ARGS...`` in this process with :func:`pipeline.teachers.build_teacher` (the
one place every teacher kind is built) wrapped in a counter, and writes to the file named
by ``$TEACHKIT_PROBE_OUT``: the number of teachers built, whether ``torch`` and
``transformers`` were imported at all (without them nothing can load a model) and the exit
code. Used by :mod:`bench.cache`; the wrapper costs nothing measurable.
"""

from __future__ import annotations

import json
import os
import sys


def main(argv: list[str]) -> int:
    import pipeline.teachers as registry

    calls = []
    real = registry.build_teacher

    def counting(cfg, model, device):
        calls.append(cfg.name)
        return real(cfg, model, device)

    registry.build_teacher = counting
    from teachkit.cli import app

    try:
        app(argv, prog_name="teachkit", standalone_mode=False)
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    out = {
        "teachers_built": calls,
        "torch_imported": "torch" in sys.modules,
        "transformers_imported": "transformers" in sys.modules,
        "exit_code": code,
    }
    with open(os.environ["TEACHKIT_PROBE_OUT"], "w") as f:
        json.dump(out, f)
    return code


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
