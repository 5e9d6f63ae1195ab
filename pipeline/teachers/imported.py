"""``imported`` teachers: scores computed elsewhere and brought in with ``teachkit scores import``.

There is nothing to run: the import writes a committed run of kind ``imported`` into the
store, and ``teachkit teachers run`` / ``list`` only report it. A ``[[teachers]]`` entry of
this kind documents that the student expects such a teacher.
"""

from __future__ import annotations

KIND = "imported"


def build(cfg, model, device):
    raise RuntimeError(
        f"teacher {cfg.name!r} is imported: nothing to run (bring its scores in with `teachkit scores import`)"
    )


def imported_runs(store) -> dict[str, dict]:
    """Per teacher, the current committed run that was imported (empty if none)."""
    return {t: r for t, r in store.current_runs().items() if r["kind"] == KIND}
