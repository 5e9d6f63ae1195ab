"""``teachkit teachers run``, ``teachkit teachers commit`` and ``teachkit teachers list``.

The config is parsed once here (:func:`pipeline.config.load_config`); known errors (bad
config, missing model, unusable store or dataset) are :class:`teachkit.util.errors.TeachkitError`
subclasses, which the CLI edge (:mod:`teachkit.util.command`) prints as one line on stderr.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

DEFAULT_CONFIG = Path("configs/demo.toml")


def register(app: typer.Typer) -> None:
    """Add ``run``, ``commit`` and ``list`` to the ``teachers`` command group."""

    @app.command("run")
    def run_cmd(
        config: Path = typer.Option(DEFAULT_CONFIG, "--config", "-c", help="Pipeline TOML config."),
        only: Optional[list[str]] = typer.Option(None, "--only", help="Run only this teacher (repeatable)."),
        no_progress: bool = typer.Option(False, "--no-progress", help="No progress bars or progress lines on stderr."),
        overrides: Optional[list[str]] = typer.Option(
            None, "--set", metavar="FIELD=VALUE", help="Override a config field (repeatable), e.g. teachers.minilm.text_batch=64."
        ),
        videos: Optional[Path] = typer.Option(
            None, "--videos", help="Override [dataset] videos: the folder the dataset's videos are under."
        ),
        engine: Optional[str] = typer.Option(
            None, "--engine", help="Override [engine] kind: local (this process) or ray (a Ray Data pipeline)."
        ),
        address: Optional[str] = typer.Option(
            None, "--address", help="Override [engine] address: the Ray cluster to join (e.g. auto, ray://head:10001)."
        ),
        shard: Optional[str] = typer.Option(
            None, "--shard", metavar="I/N",
            help="Array job I of N: do this job's share of the encode and score shards (the last to finish commits).",
        ),
    ) -> None:
        """Run every teacher once into the store (unchanged teachers print `cached`)."""
        import dataclasses

        import teachkit.util.progress

        from ..config import load_config
        from ..run import parse_share, run_teachers

        teachkit.util.progress.configure(enabled=not no_progress)
        cfg = load_config(config, overrides=overrides or ())
        if videos is not None:
            cfg = dataclasses.replace(cfg, dataset=dataclasses.replace(cfg.dataset, videos=videos))
        cfg = with_engine(cfg, engine, address)
        share = parse_share(shard) if shard is not None else None
        if share is not None and cfg.engine.kind != "local":
            from teachkit.util.errors import UsageError

            raise UsageError("--shard runs array jobs of the local engine; use it without --engine ray")
        run_teachers(cfg, only=only, out=typer.echo, progress=not no_progress, shard=share)

    @app.command("commit")
    def commit_cmd(
        config: Path = typer.Option(DEFAULT_CONFIG, "--config", "-c", help="Pipeline TOML config."),
        only: Optional[list[str]] = typer.Option(None, "--only", help="Commit only this teacher (repeatable)."),
        overrides: Optional[list[str]] = typer.Option(
            None, "--set", metavar="FIELD=VALUE", help="Override a config field (repeatable)."
        ),
    ) -> None:
        """Commit the runs `teachers run --shard I/N` jobs completed (fails naming what is missing)."""
        from ..config import load_config
        from ..run import commit_teachers

        commit_teachers(load_config(config, overrides=overrides or ()), only=only, out=typer.echo)

    @app.command("list")
    def list_cmd(
        config: Path = typer.Option(DEFAULT_CONFIG, "--config", "-c", help="Pipeline TOML config."),
        overrides: Optional[list[str]] = typer.Option(
            None, "--set", metavar="FIELD=VALUE", help="Override a config field (repeatable)."
        ),
    ) -> None:
        """The config's teachers and their state in the store, plus teachers only the store knows."""
        from ..config import load_config

        rows = teacher_states(load_config(config, overrides=overrides or ()))
        width = max(len(r[0]) for r in rows) + 2
        typer.echo(f"{'teacher':<{width}}{'kind':<10}{'state':<22}{'t2v R@1':>8}  details")
        for name, kind, state, r1, details in rows:
            typer.echo(f"{name:<{width}}{kind:<10}{state:<22}{r1:>8}  {details}")
        from .kinds import KINDS

        typer.echo("\nkinds: " + "; ".join(f"{k.name} = {k.description}" for k in KINDS.values()))


def with_engine(cfg, engine: str | None, address: str | None):
    """``cfg`` with ``--engine`` / ``--address`` applied (checked like the config's own fields)."""
    import dataclasses

    from ..config import ENGINES, ConfigError

    if engine is None and address is None:
        return cfg
    eng = cfg.engine
    if engine is not None:
        if engine not in ENGINES:
            raise ConfigError(f"--engine must be one of {list(ENGINES)}, got {engine!r}")
        eng = dataclasses.replace(eng, kind=engine)
    if address is not None:
        eng = dataclasses.replace(eng, address=address, kind=engine or "ray")
    if eng.kind == "ray":
        from ..run.ray_engine import import_ray

        import_ray()  # without Ray: one line saying what to install
    return dataclasses.replace(cfg, engine=eng)


def teacher_states(cfg) -> list[tuple[str, str, str, str, str]]:
    """(name, kind, state, t2v R@1, details) per configured teacher and per store-only teacher.

    States: ``cached`` (a committed run matches the current fingerprint), ``stale`` (only
    runs of another config, code or manifest), ``not run``, ``model missing`` (e.g. not
    bootstrapped yet), ``imported`` / ``missing`` for imported teachers.
    """
    import json

    from stores.fs import open_fs
    from stores.layout import Store

    from ..run.prepare import identify_teacher
    from .imported import imported_runs
    from .kinds import kind_of
    from .models import ModelError

    root = cfg.store.root
    fs = open_fs(root, cfg.store.options or None)
    store = Store(fs) if fs.exists("store.json") else None
    manifest = store.manifest() if store else None
    current = store.current_runs() if store else {}
    rows = []

    def r1(run: dict | None) -> str:
        m = json.loads(run["metrics"]) if run else {}
        return f"{m['t2v']['R@1']:.1f}" if "t2v" in m else "-"

    for t in cfg.teachers:
        details = _details(t)
        kind = kind_of(t)
        if not kind.computed:
            run = imported_runs(store).get(t.name) if store else None
            rows.append((t.name, t.kind, "imported" if run else "missing", r1(run), details))
            continue
        if manifest is None:
            rows.append((t.name, t.kind, "no manifest", "-", details))
            continue
        if kind.needs_candidates and t.candidates not in current:
            rows.append((t.name, t.kind, f"no {t.candidates} run", "-", details))
            continue
        try:
            ident = identify_teacher(t, cfg.frames, manifest, cfg.engine.shard_videos,
                                candidates=current.get(t.candidates) if kind.needs_candidates else None)
        except ModelError:
            rows.append((t.name, t.kind, "model missing", "-", details))
            continue
        run = store.committed_run(t.name, ident.fingerprint)
        state = "cached" if run else ("stale" if t.name in current else "not run")
        rows.append((t.name, t.kind, state + (f" ({ident.fingerprint[:8]})" if run else ""), r1(run), details))
    configured = {t.name for t in cfg.teachers}
    for name, run in sorted(current.items()):
        if name not in configured:
            rows.append((name, run["kind"], "in store only", r1(run), f"run {run['run']}, {run['rows']:,} scores"))
    return rows


def _details(t) -> str:
    from .kinds import kind_of

    kind = kind_of(t)
    parts = [f"model={t.model}" if t.model else None]
    if kind.uses_scorer(t):
        parts.append(f"scorer={t.scorer}")
    if t.plugin:
        parts.append(f"plugin={t.plugin}")
    if t.candidates:
        parts.append(f"candidates={t.candidates}")
    if kind.computed:
        parts.append(f"plan={t.plan}" + (f"(k={t.k})" if t.k else ""))
    return " ".join(p for p in parts if p)
