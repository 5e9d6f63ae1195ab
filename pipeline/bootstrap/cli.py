"""``teachkit teachers bootstrap``: train the config's bootstrapped teachers (cached).

Reads the TOML itself (``tomllib``) and needs only three things from it: ``[store] root``
and, per ``[[teachers]]`` entry with a ``[teachers.bootstrap]`` table, its ``name`` and
``model`` (the folder the checkpoint is written to and later loaded from). ``teachkit
teachers run`` bootstraps the same way before scoring; this command exists to train (or
check) the teachers alone and, with ``--eval``, to print their held-out retrieval.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


class BootstrapConfigError(ValueError):
    """A config whose teachers cannot be bootstrapped as written."""


def bootstrap_targets(raw: dict, base: Path) -> tuple[Path, list[tuple[str, Path, dict]]]:
    """``(store_root, [(teacher name, out_dir, bootstrap table), ...])`` from a parsed TOML config."""
    store = raw.get("store", {})
    if not isinstance(store, dict):
        raise BootstrapConfigError("store: expected a [store] table")
    root = store.get("root", "store")
    if not isinstance(root, str) or not root:
        raise BootstrapConfigError(f"store.root must be a folder path, got {root!r}")
    teachers = raw.get("teachers", [])
    if not isinstance(teachers, list):
        raise BootstrapConfigError("teachers: expected [[teachers]] tables")
    targets = []
    for i, t in enumerate(teachers):
        if not isinstance(t, dict) or "bootstrap" not in t:
            continue
        name = t.get("name", f"teachers[{i}]")
        where = f"teachers[{i}] ({name})"
        if not isinstance(t["bootstrap"], dict):
            raise BootstrapConfigError(f"{where}.bootstrap: expected a [teachers.bootstrap] table")
        model = t.get("model")
        if not isinstance(model, str) or not model:
            raise BootstrapConfigError(f"{where}.model: a bootstrapped teacher needs the folder to write it to")
        table = dict(t["bootstrap"]) | ({"holdout": t["holdout"]} if "holdout" in t else {})
        targets.append((str(name), _resolve(model, base), table))
    return _resolve(root, base), targets


def _resolve(p: str, base: Path) -> Path:
    path = Path(p).expanduser()
    return path if path.is_absolute() else base / path


def register(app: typer.Typer) -> None:
    """Add ``bootstrap`` to the ``teachers`` command group."""

    @app.command("bootstrap")
    def bootstrap_cmd(
        config: Path = typer.Option(..., "--config", "-c", exists=True, dir_okay=False, help="Pipeline TOML config."),
        store: Optional[Path] = typer.Option(None, help="Store folder (default: the config's store.root)."),
        only: Optional[list[str]] = typer.Option(None, "--only", help="Bootstrap only these teachers (repeatable)."),
        evaluate: bool = typer.Option(False, "--eval", help="Also print each teacher's retrieval on --split."),
        split: str = typer.Option("test", help="Split that --eval scores."),
    ) -> None:
        """Train every teacher of the config that has a teachers.bootstrap table (cached)."""
        import tomllib

        from .checkpoint import bootstrap
        from .options import BootstrapOptionsError, parse_options

        try:
            raw = tomllib.loads(config.read_text())
            store_root, targets = bootstrap_targets(raw, Path.cwd())
            # validate every table before training any, so a typo in the last fails first
            parsed = [(n, d, parse_options(t, f"teachers ({n}).bootstrap")) for n, d, t in targets]
        except (tomllib.TOMLDecodeError, BootstrapConfigError, BootstrapOptionsError) as e:
            raise typer.BadParameter(str(e), param_hint="--config") from None
        if only:
            unknown = sorted(set(only) - {n for n, _, _ in parsed})
            if unknown:
                raise typer.BadParameter(f"no bootstrapped teacher named {unknown}", param_hint="--only")
            parsed = [p for p in parsed if p[0] in only]
        if not parsed:
            typer.echo(f"{config}: no teacher has a [teachers.bootstrap] table; nothing to do", err=True)
            return
        store_root = store or store_root
        rows = {}
        for name, out_dir, opts in parsed:
            result = bootstrap(out_dir, opts, store_root)
            train = result.info.get("train", {})
            typer.echo(
                f"{name}: {'cached' if result.cached else 'trained'} {out_dir} "
                f"({train.get('steps')} steps, {train.get('train_seconds', 0):.0f}s training)",
                err=True,
            )
            if evaluate:
                from .evaluate import evaluate_checkpoint

                rows[name] = evaluate_checkpoint(out_dir, store_root, split)
        if rows:
            from stores.metrics import format_table

            typer.echo(format_table(rows))
