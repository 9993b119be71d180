"""Render a page in headless Chromium at given widths; report image loads and horizontal overflow.

Chromium's headless window is at least 500 px wide, so each width is an iframe of exactly
that width inside a wrapper page; a script there writes what it measured into the wrapper's
DOM, which ``--dump-dom`` prints.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

WRAPPER = """<!DOCTYPE html><html><body style="margin:0">{frames}<script>
var frames = Array.from(document.querySelectorAll('iframe')), results = {{}};
frames.forEach(function (f) {{ f.addEventListener('load', function () {{
  var d = f.contentDocument, w = f.contentWindow;
  results[f.dataset.width] = {{innerWidth: w.innerWidth, scrollWidth: d.documentElement.scrollWidth,
    images: Array.from(d.images).map(function (i) {{
      return {{src: i.getAttribute('src'), complete: i.complete, naturalWidth: i.naturalWidth}}; }})}};
  if (Object.keys(results).length === frames.length) {{
    var pre = document.createElement('pre'); pre.id = 'layout'; pre.textContent = JSON.stringify(results);
    document.body.appendChild(pre);
  }}
}}); }});
</script></body></html>"""


def chromium() -> str:
    """The Chromium executable; fails (never skips) when it is missing: CI installs it (.ci/run)."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    raise AssertionError(
        "Chromium is not installed: install the distribution's package "
        "(Debian: apt-get install -y chromium), as .ci/run does"
    )


def layout(page: Path, widths: tuple[int, ...], workdir: Path) -> dict[int, dict]:
    """``{width: {"innerWidth", "scrollWidth", "images": [{"src", "complete", "naturalWidth"}]}}`` for ``page``
    shown in a viewport of each width."""
    frames = "".join(
        f"<iframe data-width='{w}' src='{page.resolve().as_uri()}' "
        f"style='width:{w}px;height:2000px;border:0;display:block'></iframe>"
        for w in widths
    )
    wrapper = workdir / "layout-check.html"
    wrapper.write_text(WRAPPER.format(frames=frames))
    out = subprocess.run(
        [
            chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--allow-file-access-from-files",
            f"--user-data-dir={workdir / 'chromium-profile'}",
            f"--window-size={max(widths) + 20},2000",
            "--virtual-time-budget=10000",
            "--dump-dom",
            wrapper.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    found = re.search(r'<pre id="layout">(.*?)</pre>', out.stdout)
    assert found, f"Chromium printed no measurements (exit {out.returncode}): {out.stderr[-2000:]}"
    return {int(k): v for k, v in json.loads(html.unescape(found.group(1))).items()}
