"""The report in a real browser: headless Chromium loads it, every figure decodes, the
screenshot is not blank, and the page asks the network for nothing.

``make test`` installs Chromium from the distribution's packages where it can (root and
apt-get); elsewhere this test skips and says what is missing.
"""

from __future__ import annotations

import functools
import http.server
import json
import re
import shutil
import subprocess
import threading

import numpy as np
import pytest

from teachkit.report import build_report

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--hide-scrollbars", "--mute-audio"]

# appended to a copy of the page: after load, record every image's decoded size in the DOM
CHECK = """<script>window.addEventListener('load', () => {
  const imgs = Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth, i.naturalHeight]);
  const pre = document.createElement('pre'); pre.id = 'figure-check';
  pre.textContent = 'FIGURES=' + JSON.stringify(imgs) + '=END'; document.body.appendChild(pre);
});</script>"""


def _browser() -> str:
    for name in BROWSERS:
        if shutil.which(name):
            return shutil.which(name)
    pytest.skip("no Chromium on PATH (tried " + ", ".join(BROWSERS) + "); `make test` installs it with "
                "`apt-get install -y chromium` when run as root on Debian/Ubuntu")


class _Server:
    """A static file server on 127.0.0.1 that records every path requested."""

    def __init__(self, folder):
        self.requests: list[str] = []
        log = self.requests

        class Handler(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *args):
                log.append(self.path)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(folder)))
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{name}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def _chromium(browser, profile, *args, timeout=90) -> subprocess.CompletedProcess:
    return subprocess.run([browser, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_chromium_loads_every_figure_and_renders_the_report(run_group, tmp_path):
    from PIL import Image

    browser = _browser()
    out = tmp_path / "report"
    page = build_report(run_group["store"], run_group["runs"], out, run_group["ground_truth"], run_group["bench"])
    n_figures = len(re.findall(r"<img ", page.read_text()))
    assert n_figures == 8
    (out / "check.html").write_text(page.read_text().replace("</body>", CHECK + "</body>"))
    shot = tmp_path / "report.png"
    with _Server(out) as server:
        dom = _chromium(browser, tmp_path / "profile-dom", "--virtual-time-budget=10000", "--dump-dom",
                        server.url("check.html"))
        assert dom.returncode == 0, dom.stderr[-2000:]
        shot_run = _chromium(browser, tmp_path / "profile-shot", f"--screenshot={shot}", "--window-size=1280,2400",
                             "--virtual-time-budget=10000", server.url("report.html"))
        assert shot_run.returncode == 0, shot_run.stderr[-2000:]
    found = re.search(r'<pre id="figure-check">FIGURES=(.*?)=END</pre>', dom.stdout, re.S)
    assert found, "the check script did not run: " + dom.stdout[-500:]
    figures = json.loads(found.group(1))
    assert len(figures) == n_figures
    for alt, complete, width, height in figures:
        assert complete and width > 0 and height > 0, alt
    # the page and nothing else was fetched (the PNGs beside it are not what it shows)
    assert {p.split("?")[0] for p in server.requests} <= {"/check.html", "/report.html", "/favicon.ico"}
    img = np.asarray(Image.open(shot).convert("L"), dtype=np.float64)
    assert img.shape == (2400, 1280)
    assert img.std() > 20, f"screenshot looks blank (pixel std {img.std():.1f})"
    assert (img < 128).mean() > 0.01  # dark pixels: text, axes, heatmaps
