"""``teachkit teachers bootstrap``: train the config's bootstrapped teachers (cached).

The config is the teacher stage's own (:func:`pipeline.config.load_config`, the loader every
stage shares, with the same ``--set`` overrides); this command uses ``[store] root`` and the
``[[teachers]]`` entries that have a ``[teachers.bootstrap]`` table (the ``model`` folder is
where the checkpoint is written and later loaded from). ``teachkit teachers run``
bootstraps the same way before scoring (``[engine] bootstrap_jobs`` at a time, as here); this command exists to train (or check) the
teachers alone and, with ``--eval``, to print their held-out retrieval.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def bootstrap_targets(cfg) -> list[tuple[str, Path, dict]]:
    """``[(name, out_dir, bootstrap table), ...]`` of a parsed :class:`PipelineConfig`: the
    ``[[pretrained]]`` artefacts first (teachers may start from them), then the bootstrapped
    teachers (a teacher's ``holdout`` joins its table: it trains without those captions)."""
    from ..run.prepare import bootstrap_table

    return [(p.name, Path(p.model), p.bootstrap) for p in cfg.pretrained] + [
        (t.name, Path(t.model), bootstrap_table(t.bootstrap, t.holdout)) for t in cfg.teachers
        if t.bootstrap is not None]


def register(app: typer.Typer) -> None:
    """Add ``bootstrap`` to the ``teachers`` command group."""

    @app.command("bootstrap")
    def bootstrap_cmd(
        config: Path = typer.Option(..., "--config", "-c", exists=True, dir_okay=False, help="Pipeline TOML config."),
        store: Optional[Path] = typer.Option(None, help="Store folder (default: the config's store.root)."),
        only: Optional[list[str]] = typer.Option(None, "--only", help="Bootstrap only these teachers (repeatable)."),
        evaluate: bool = typer.Option(False, "--eval", help="Also print each teacher's retrieval on --split."),
        split: str = typer.Option("test", help="Split that --eval scores."),
        overrides: Optional[list[str]] = typer.Option(
            None, "--set", metavar="FIELD=VALUE", help="Override a config field (repeatable), e.g. teachers.clip_fine.bootstrap.steps=20."
        ),
        no_progress: bool = typer.Option(False, "--no-progress", help="No progress bars on stderr."),
    ) -> None:
        """Train every teacher of the config that has a teachers.bootstrap table (cached)."""
        import teachkit.util.progress
        from teachkit.util.config import ConfigError

        from ..config import load_config
        from .checkpoint import bootstrap
        from .options import BootstrapOptionsError, parse_options

        teachkit.util.progress.configure(enabled=not no_progress)
        try:
            cfg = load_config(config, overrides=overrides or ())
            if cfg.overrides:
                typer.echo("config overrides: " + " ".join(cfg.overrides), err=True)
            targets = bootstrap_targets(cfg)
            store_root = cfg.store.root
            # validate every table before training any, so a typo in the last fails first
            parsed = [(n, d, parse_options(t, f"teachers ({n}).bootstrap")) for n, d, t in targets]
        except (ConfigError, BootstrapOptionsError) as e:
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(2) from None
        if only:
            unknown = sorted(set(only) - {n for n, _, _ in parsed})
            if unknown:
                raise typer.BadParameter(f"no bootstrapped teacher named {unknown}", param_hint="--only")
            parsed = [p for p in parsed if p[0] in only]
        if not parsed:
            typer.echo(f"{config}: no teacher has a [teachers.bootstrap] table; nothing to do", err=True)
            return
        store_root = store or store_root
        trained_here: set[str] = set()  # trained by the pool below: found cached after it
        if cfg.engine.bootstrap_jobs > 1 and len(parsed) > 1:  # train them as `teachers run` does
            from ..run.prepare import ensure_bootstraps
            from .checkpoint import stale

            names = {n for n, _, _ in parsed}
            trained_here = set(stale({str(d): t for n, d, t in targets if n in names}, store_root))
            ensure_bootstraps([t for t in cfg.teachers if t.name in names and t.bootstrap is not None], store_root,
                              teachkit.util.progress.log, [p for p in cfg.pretrained if p.name in names],
                              cfg.engine.bootstrap_jobs)
        rows = {}
        for name, out_dir, opts in parsed:
            result = bootstrap(out_dir, opts, store_root)
            train = result.info.get("train", {})
            typer.echo(
                f"{name}: {'cached' if result.cached and str(out_dir) not in trained_here else 'trained'} {out_dir} "
                f"({train.get('steps')} steps, {train.get('train_seconds', 0):.0f}s training)",
                err=True,
            )
            if evaluate and opts.objective == "paraphrase":
                typer.echo(f"{name}: --eval scores CLIP checkpoints; a paraphrase text encoder is scored by "
                           "`teachkit teachers run`", err=True)
            elif evaluate:
                from .evaluate import evaluate_checkpoint

                rows[name] = evaluate_checkpoint(out_dir, store_root, split)
        if rows:
            from teachkit.util.metrics import format_table

            typer.echo(format_table(rows))
