"""``teachkit captions audit`` and ``teachkit captions measure``: the caption audit's commands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

captions_app = typer.Typer(help="Training captions: find the wrong ones from the stored teacher scores.",
                           no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add the ``captions`` command group to the root app."""
    app.add_typer(captions_app, name="captions")


def _fail(e: Exception) -> None:
    from teachkit.util.errors import TeachkitError

    code = e.exit_code if isinstance(e, TeachkitError) else 2
    typer.echo(f"error: {' '.join(str(e).split())}", err=True)
    raise typer.Exit(code)


@captions_app.command("audit")
def audit_command(
    config: Path = typer.Option(..., "--config", "-c", help="Audit TOML: [store] root and [audit] (configs/audit_demo.toml)."),
    store: Optional[Path] = typer.Option(None, "--store", help="Store folder (default: the config's store.root)."),
    fraction: Optional[float] = typer.Option(None, "--fraction", help="Flag this share of the split instead of the mixture's choice."),
    score: Optional[float] = typer.Option(None, "--score", help="Flag captions scoring at least this instead."),
    overrides: Optional[list[str]] = typer.Option(
        None, "--set", metavar="FIELD=VALUE", help="Override a config field (repeatable), e.g. audit.signal=margin."),
) -> None:
    """Score every caption of the split (higher: more likely wrong), flag the implausible ones, commit the run."""
    import dataclasses

    from teachkit.util.errors import TeachkitError
    from stores.layout import StoreError

    from .run import load_audit_config, parse_audit, run_audit

    try:
        root, cfg = load_audit_config(config, overrides=overrides or ())
        if fraction is not None and score is not None:
            raise typer.BadParameter("give --fraction or --score, not both")
        if fraction is not None:
            cfg = parse_audit(dataclasses.asdict(cfg) | {"threshold": "fraction", "fraction": fraction})
        if score is not None:
            cfg = parse_audit(dataclasses.asdict(cfg) | {"threshold": "score", "score": score})
        outcome = run_audit(store or root, cfg, log=lambda m: typer.echo(m, err=True))
    except (TeachkitError, StoreError) as e:
        _fail(e)
    typer.echo(outcome.line())


@captions_app.command("measure")
def measure_command(
    truth: Path = typer.Option(..., "--truth", help="JSON with captions -> {wrong, noise}: data/demo/ground_truth.json "
                               "or the record of `teachkit data corrupt`."),
    store: Path = typer.Option(Path("store"), "--store", help="Store folder."),
    as_json: bool = typer.Option(False, "--json", help="Print the figures as JSON."),
    out: Optional[Path] = typer.Option(None, "--out", help="Also write the figures as JSON to this file."),
) -> None:
    """Precision, recall, F1, AUC and recall per noise kind of the current audit against a known truth."""
    import stores
    from stores.layout import StoreError

    from .measure import format_detection, measure_audit, read_truth

    try:
        known = read_truth(truth)
        with stores.connect(store) as con:
            m = measure_audit(con, known)
    except (ValueError, StoreError) as e:
        _fail(e)
    if out is not None:
        from teachkit.util.atomic import write_json

        out.parent.mkdir(parents=True, exist_ok=True)
        write_json(out, m)
    typer.echo(json.dumps(m, indent=2) if as_json else format_detection(m))
