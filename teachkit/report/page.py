"""The report page: one self-contained HTML file, every figure inline, the PNGs beside it.

Nothing on the page is fetched: figures are ``data:image/png;base64`` URIs, styles are
inline, there is no script. The folder is written through :func:`teachkit.util.atomic.atomic_path`,
so a reader sees the previous report or the new one, never half of one.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field
from pathlib import Path

from teachkit.util.atomic import atomic_path

PAGE = "report.html"

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; border-bottom: 1px solid #ddd; padding-bottom: .2em; margin-top: 1.6em; }
p.note { color: #555; } img { max-width: 100%; display: block; margin: .6em 0; }
table { border-collapse: collapse; font-size: .9em; margin: .6em 0; }
td, th { border: 1px solid #ccc; padding: .25em .6em; text-align: right; } th:first-child, td:first-child { text-align: left; }
code { background: #f3f3f3; padding: 0 .2em; }
"""


@dataclass
class Section:
    title: str
    text: str = ""  # HTML (already escaped where it holds data)
    figures: list[tuple[str, object]] = field(default_factory=list)  # (file stem, matplotlib Figure)
    table: str = ""  # HTML


def png_bytes(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def table_html(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def write_page(out: str | Path, title: str, intro: str, sections: list[Section]) -> Path:
    """Write ``out/report.html`` and ``out/<figure>.png``; return the page's path."""
    out = Path(out)
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1><p class='note'>{intro}</p>"]
    with atomic_path(out) as tmp:
        tmp.mkdir(parents=True)
        for s in sections:
            parts.append(f"<section><h2>{html.escape(s.title)}</h2>")
            if s.text:
                parts.append(f"<p class='note'>{s.text}</p>")
            if s.table:
                parts.append(s.table)
            for stem, fig in s.figures:
                data = png_bytes(fig)
                (tmp / f"{stem}.png").write_bytes(data)
                uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
                parts.append(f"<img alt='{html.escape(stem)}' src='{uri}'>")
            parts.append("</section>")
        parts.append("</body></html>")
        (tmp / PAGE).write_text("".join(parts), encoding="utf-8")
    return out / PAGE
