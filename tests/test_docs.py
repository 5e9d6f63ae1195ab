"""The manual builds in strict mode: a warning, a broken link or a missing results JSON fails.

The first test builds the real docs (as `make docs` does) into a temporary folder; the second
breaks a link in a copy and checks that the same build then fails, so the first cannot pass
because strict mode checks nothing. The README's headline table must equal what
docs/hooks/results.py renders from docs/results/demo.json.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytest.importorskip("mkdocs", reason="the docs packages: pip install -e '.[docs]' (make test installs them)")
pytest.importorskip("material", reason="the Material theme: pip install -e '.[docs]'")
pytest.importorskip("mkdocstrings_handlers.python", reason="mkdocstrings[python]: pip install -e '.[docs]'")


def build(config: Path, site: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(config), "--site-dir", str(site)],
        cwd=config.parent, capture_output=True, text=True, env=env, timeout=300,
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    r = build(ROOT / "mkdocs.yml", out)
    assert r.returncode == 0, f"mkdocs build --strict failed:\n{r.stdout}\n{r.stderr}"
    return out


def test_docs_build_strict(site):
    assert (site / "index.html").is_file()
    assert (site / "glossary.html").is_file()
    api = (site / "api" / "losses.html").read_text()
    assert "pearson_rows" in api  # the API reference is generated from the docstrings


def test_docs_request_nothing_off_the_machine(site):
    """No stylesheet, script, font or image is loaded from another host (links may point out)."""
    loads = re.compile(r'<(?:script|img|iframe|source)[^>]*\bsrc="(?:https?:)?//|'
                       r'<link[^>]*rel="(?:stylesheet|preconnect|preload|icon)"[^>]*href="(?:https?:)?//')
    for page in site.rglob("*.html"):
        found = loads.search(page.read_text())
        assert found is None, f"{page.relative_to(site)} loads {found.group(0)!r}"
    for css in site.rglob("*.css"):
        assert not re.search(r"url\((['\"]?)(?:https?:)?//", css.read_text()), css


def test_results_tables_are_rendered_not_typed(site):
    page = (site / "results.html").read_text()
    assert "runs/demo/metrics.json" in page and "<!-- results:" not in page


def copy_docs(tmp_path: Path) -> Path:
    """A copy of mkdocs.yml and docs/ whose API pages still read the code of this checkout."""
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    shutil.copy(ROOT / "CHANGELOG.md", tmp_path / "CHANGELOG.md")
    cfg = (ROOT / "mkdocs.yml").read_text().replace('paths: ["."]', f"paths: [{str(ROOT)!r}]")
    assert str(ROOT) in cfg
    (tmp_path / "mkdocs.yml").write_text(cfg)
    return tmp_path / "mkdocs.yml"


def test_a_broken_link_fails_the_build(tmp_path):
    config = copy_docs(tmp_path)
    page = tmp_path / "docs" / "glossary.md"
    page.write_text(page.read_text() + "\nSee [nowhere](no-such-page.md).\n")
    r = build(config, tmp_path / "site")
    assert r.returncode != 0
    assert "no-such-page.md" in r.stdout + r.stderr


def test_a_missing_results_json_fails_the_build_with_one_message(tmp_path):
    config = copy_docs(tmp_path)
    (tmp_path / "docs" / "results" / "demo.json").unlink()
    r = build(config, tmp_path / "site")
    assert r.returncode != 0
    assert "docs/results/demo.json is missing: `make student` writes it" in r.stdout + r.stderr


def test_readme_headline_table_matches_the_results_json():
    r = subprocess.run([sys.executable, str(ROOT / "docs/hooks/results.py"), "readme", "--check",
                        str(ROOT / "README.md")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "<!-- results: demo headline -->" in (ROOT / "README.md").read_text()
